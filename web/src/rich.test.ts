import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { chooseKind, kindOfContent } from './docKind'
import { FALLBACK_COLOR, guardAwarenessColors, safeColor, translucent } from './safeColor'
import { linkHref, richSchema } from './richSchema'
import { downloadFormats } from './downloadMenu'
import { kindLabel } from './listPage'

/** A document as another tab or the server would send it: only its update, no typed roots. */
function received (build: (d: Y.Doc) => void): Y.Doc {
  const src = new Y.Doc()
  build(src)
  const dst = new Y.Doc()
  Y.applyUpdate(dst, Y.encodeStateAsUpdate(src))
  return dst
}

describe('kindOfContent', () => {
  it('finds a Tiptap fragment in a received update without instantiating a root', () => {
    const d = received((s) => {
      const p = new Y.XmlElement('paragraph')
      p.insert(0, [new Y.XmlText('hello')])
      s.getXmlFragment('default').insert(0, [p])
    })
    expect(kindOfContent(d)).toBe('rich')
    // Reading it must not have given the root a type.
    expect(d.share.get('default')?.constructor).toBe(Y.AbstractType)
  })
  it('finds plain text', () => {
    expect(kindOfContent(received((s) => s.getText('content').insert(0, 'hi')))).toBe('text')
  })
  it('says nothing for an empty document or one whose text was all deleted', () => {
    expect(kindOfContent(new Y.Doc())).toBeNull()
    expect(kindOfContent(received((s) => { const t = s.getText('content'); t.insert(0, 'x'); t.delete(0, 1) }))).toBeNull()
  })
  it('prefers the rich content when a document holds both', () => {
    const d = received((s) => {
      s.getText('content').insert(0, 'plain')
      s.getXmlFragment('default').insert(0, [new Y.XmlElement('paragraph')])
    })
    expect(kindOfContent(d)).toBe('rich')
  })
  it('ignores fields other editors use', () => {
    expect(kindOfContent(received((s) => s.getXmlFragment('prosemirror').insert(0, [new Y.XmlElement('p')])))).toBeNull()
  })
})

describe('chooseKind', () => {
  it('takes the content first, then the server, then plain text', () => {
    expect(chooseKind('text', 'rich')).toBe('text')
    expect(chooseKind(null, 'rich')).toBe('rich')
    expect(chooseKind(null, 'text')).toBe('text')
    expect(chooseKind(null, undefined)).toBe('text')
    expect(chooseKind(null, 'spreadsheet')).toBe('text')
  })
})

describe('safeColor', () => {
  it('keeps #rgb and #rrggbb and nothing else', () => {
    expect(safeColor('#abc')).toBe('#abc')
    expect(safeColor('#A1b2C3')).toBe('#A1b2C3')
    for (const bad of ['red', '#abcd', '#12345g', 'url(https://x/)', '#fff; background: url(x)', '#ffffff\n', 42, null, undefined]) {
      expect(safeColor(bad)).toBe(FALLBACK_COLOR)
    }
  })
  it('builds translucent variants from the safe colour only', () => {
    expect(translucent('#abc')).toBe('#aabbcc33')
    expect(translucent('#123456', '70')).toBe('#12345670')
    expect(translucent('x;y')).toBe(FALLBACK_COLOR + '33')
  })
  it('rewrites remote awareness colours before later listeners see them', () => {
    const other = new Awareness(new Y.Doc())
    other.setLocalStateField('user', { name: 'Eve', color: 'red; background:url(//evil)', colorLight: 'url(//evil)' })
    const mine = new Awareness(new Y.Doc())
    const stop = guardAwarenessColors(mine)
    const seen: unknown[] = []
    mine.on('change', () => seen.push({ ...mine.getStates().get(other.clientID)?.user }))
    // What the network would carry.
    const update = encodeAwareness(other)
    applyAwareness(mine, update)
    expect(seen).toEqual([{ name: 'Eve', color: FALLBACK_COLOR, colorLight: FALLBACK_COLOR + '33' }])
    stop()
  })
})

describe('linkHref', () => {
  it('accepts web and mail addresses, adding https to a bare host', () => {
    expect(linkHref('https://example.com/a?b=1')).toBe('https://example.com/a?b=1')
    expect(linkHref('example.com')).toBe('https://example.com/')
    expect(linkHref('mailto:ann@example.com')).toBe('mailto:ann@example.com')
    expect(linkHref('   ')).toBeNull()
  })
  it('refuses script and data addresses with a reason', () => {
    for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x']) {
      expect(() => linkHref(bad)).toThrow(/http, https or mailto/)
    }
  })
})

describe('rich schema and menus', () => {
  it('knows the StarterKit nodes and task lists the server writes', () => {
    const s = richSchema()
    for (const n of ['paragraph', 'heading', 'bulletList', 'orderedList', 'listItem', 'taskList', 'taskItem', 'blockquote', 'codeBlock', 'horizontalRule', 'hardBreak']) {
      expect(s.nodes[n], n).toBeDefined()
    }
    for (const m of ['bold', 'italic', 'strike', 'code', 'link']) expect(s.marks[m], m).toBeDefined()
  })
  it('offers every rendering for rich documents and the local ones for plain', () => {
    expect(downloadFormats('rich')).toEqual(['md', 'html', 'json', 'txt', 'yjs'])
    expect(downloadFormats('text')).toEqual(['md', 'txt', 'yjs'])
  })
  it('labels the kind in words, plain text for an unknown one', () => {
    expect(kindLabel('rich')).toMatchObject({ kind: 'rich', label: 'Rich text' })
    expect(kindLabel('text')).toMatchObject({ kind: 'text', label: 'Plain text' })
    expect(kindLabel(undefined)).toMatchObject({ kind: 'text', label: 'Plain text' })
  })
})

function encodeAwareness (a: Awareness): Uint8Array { return encodeAwarenessUpdate(a, [a.clientID]) }
function applyAwareness (a: Awareness, u: Uint8Array): void { applyAwarenessUpdate(a, u, 'remote') }
