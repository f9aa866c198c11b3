import { describe, expect, it } from 'vitest'
import { validateDocName } from './names'
import { PALETTE, colorForName, ownColor, presenceColors, userInfo } from './colors'
import { chipColors } from './listPage'
import { isReadOnlyToken, parseTokenClaims } from './token'
import { diffLines, diffStats } from './diff'
import { transportOrder } from './connection'

describe('validateDocName', () => {
  it('accepts the allowed alphabet', () => {
    expect(validateDocName('notes')).toBeNull()
    expect(validateDocName('Team-notes_2024.v1~draft:x')).toBeNull()
    expect(validateDocName('a'.repeat(128))).toBeNull()
    expect(validateDocName('a.')).toBeNull()
  })
  it('rejects empty, too long, leading dot and other characters', () => {
    expect(validateDocName('')).not.toBeNull()
    expect(validateDocName('a'.repeat(129))).not.toBeNull()
    expect(validateDocName('.hidden')).not.toBeNull()
    expect(validateDocName('..')).not.toBeNull()
    for (const bad of ['a b', 'a/b', 'ä', 'a?b', 'a#b', 'a%20', 'a+b']) {
      expect(validateDocName(bad), bad).not.toBeNull()
    }
  })
})

describe('presence colours', () => {
  // Names that hash to the same colour.
  const clash = ['alice']
  for (let i = 0; clash.length < 4; i++) if (colorForName(`u${i}`) === colorForName('alice')) clash.push(`u${i}`)

  it('gives the people present different colours, whatever order they are seen in', () => {
    const colors = presenceColors(clash)
    expect(new Set(colors.values()).size).toBe(clash.length)
    expect(presenceColors([...clash].reverse())).toEqual(colors)
    // The first name in code-unit order keeps its own colour.
    expect(colors.get('alice')).toBe(colorForName('alice'))
  })

  it('the list paints each person as the editors paint their cursor', () => {
    // Every editor picks its own colour from the awareness states it sees (random client ids,
    // any order); the list gets the same names from the server, sorted and once each.
    for (let round = 0; round < 50; round++) {
      const names = [...clash, 'Bob', 'Zoë', 'Émile', 'bob'].filter(() => Math.random() < 0.7)
      if (names.length === 0) continue
      const ids = names.map(() => Math.floor(Math.random() * 2 ** 32))
      const states = new Map<number, unknown>(ids.map((id, i) => [id, { user: { name: names[i] } }]))
      const editors = new Map(names.map((n, i) => [n, ownColor(n, ids[i], states)]))
      const list = new Map(chipColors([...new Set(names)].sort()))
      expect(list).toEqual(editors)
    }
  })

  it('one person in two tabs has one colour', () => {
    const states = new Map<number, unknown>([[1, { user: { name: 'alice' } }], [2, { user: { name: 'alice' } }], [3, { user: { name: clash[1] } }]])
    expect(ownColor('alice', 1, states)).toBe(ownColor('alice', 2, states))
    expect(ownColor(clash[1], 3, states)).not.toBe(ownColor('alice', 1, states))
  })
})

describe('colours', () => {
  it('is stable for a name and in the palette', () => {
    expect(colorForName('alice')).toBe(colorForName('alice'))
    expect(PALETTE).toContain(colorForName('alice'))
  })
  it('spreads different names over several colours', () => {
    const used = new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'].map(colorForName))
    expect(used.size).toBeGreaterThanOrEqual(4)
  })
  it('builds the awareness user object', () => {
    const u = userInfo('bob')
    expect(u.name).toBe('bob')
    expect(u.colorLight.startsWith(u.color)).toBe(true)
    expect(u.colorLight).not.toBe(u.color)
  })
})

function makeToken(payload: object): string {
  const b64url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  return `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(JSON.stringify(payload))}.sig`
}

describe('token payload', () => {
  it('reads claims including base64url characters and unicode', () => {
    const claims = parseTokenClaims(makeToken({ doc: 'notes*', access: 'read', name: 'Zoë ~?>', exp: 99 }))
    expect(claims).toEqual({ doc: 'notes*', access: 'read', name: 'Zoë ~?>', exp: 99 })
    expect(isReadOnlyToken(claims)).toBe(true)
  })
  it('write tokens are not read-only', () => {
    expect(isReadOnlyToken(parseTokenClaims(makeToken({ access: 'write' })))).toBe(false)
  })
  it('garbage yields null', () => {
    expect(parseTokenClaims('nope')).toBeNull()
    expect(parseTokenClaims('a.!!!.c')).toBeNull()
    expect(parseTokenClaims(null)).toBeNull()
    expect(isReadOnlyToken(null)).toBe(false)
  })
})

describe('diffLines', () => {
  const render = (a: string, b: string) =>
    diffLines(a, b).map((o) => (o.kind === 'same' ? ' ' : o.kind === 'add' ? '+' : '-') + o.text).join('\n')

  it('identical texts are all same', () => {
    expect(render('a\nb', 'a\nb')).toBe(' a\n b')
  })
  it('finds insertions and deletions in the middle', () => {
    expect(render('a\nb\nc\nd', 'a\nc\nx\nd')).toBe(' a\n-b\n c\n+x\n d')
  })
  it('handles empty sides', () => {
    expect(render('', 'x\ny')).toBe('+x\n+y')
    expect(render('x', '')).toBe('-x')
  })
  it('is minimal (LCS) and reconstructs both texts', () => {
    const a = 'the\nquick\nbrown\nfox\njumps\nover\nthe\nlazy\ndog'
    const b = 'quick\nbrown\nthe\nfox\njumped\nover\nlazy\ndogs\n!'
    const ops = diffLines(a, b)
    expect(ops.filter((o) => o.kind !== 'add').map((o) => o.text).join('\n')).toBe(a)
    expect(ops.filter((o) => o.kind !== 'del').map((o) => o.text).join('\n')).toBe(b)
    // LCS of the two is quick,brown,fox,over,lazy = 5 lines
    expect(ops.filter((o) => o.kind === 'same').length).toBe(5)
    expect(diffStats(ops)).toEqual({ added: 4, removed: 4 })
  })
  it('falls back to replace-all beyond the size guard but stays correct', () => {
    const ops = diffLines('a\nb\nc', 'x\nb\ny', 1)
    expect(ops.filter((o) => o.kind !== 'add').map((o) => o.text)).toEqual(['a', 'b', 'c'])
    expect(ops.filter((o) => o.kind !== 'del').map((o) => o.text)).toEqual(['x', 'b', 'y'])
  })
})

describe('transportOrder', () => {
  it('prefers websocket, then sse, then poll', () => {
    expect(transportOrder(['poll', 'sse', 'websocket'], null)).toEqual(['websocket', 'sse', 'poll'])
  })
  it('skips transports the server disabled', () => {
    expect(transportOrder(['sse', 'poll'], null)).toEqual(['sse', 'poll'])
    expect(transportOrder(['poll'], null)).toEqual(['poll'])
  })
  it('tries everything when the config is unknown', () => {
    expect(transportOrder(null, null)).toEqual(['websocket', 'sse', 'poll'])
  })
  it('a forced transport is used alone; a bogus one is ignored', () => {
    expect(transportOrder(['websocket', 'sse', 'poll'], 'poll')).toEqual(['poll'])
    expect(transportOrder(['sse'], 'websocket')).toEqual(['websocket'])
    expect(transportOrder(['sse', 'poll'], 'carrier-pigeon')).toEqual(['sse', 'poll'])
  })
})
