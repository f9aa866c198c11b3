import { describe, expect, it } from 'vitest'
import { appUrl, readSession } from './session'
import { relativeTime } from './format'

describe('session parameters', () => {
  it('keeps token and transport across in-app links, drops the rest', () => {
    expect(appUrl('/d/x', '?token=abc&transport=poll&foo=1')).toBe('/d/x?token=abc&transport=poll')
    expect(appUrl('/', '?foo=1')).toBe('/')
  })
  it('reads the forced transport and ignores unknown ones', () => {
    expect(readSession('?transport=sse').forcedTransport).toBe('sse')
    expect(readSession('?transport=smoke').forcedTransport).toBeNull()
    expect(readSession('?transport=smoke').unknownTransport).toBe('smoke')
    expect(readSession('?transport=sse').unknownTransport).toBeNull()
    expect(readSession('').token).toBeNull()
  })
  it('decodes token claims from the URL', () => {
    const payload = btoa(JSON.stringify({ access: 'read', name: 'Ro' })).replace(/=+$/, '')
    const s = readSession(`?token=h.${payload}.s`)
    expect(s.token).toBe(`h.${payload}.s`)
    expect(s.claims?.access).toBe('read')
    expect(s.claims?.name).toBe('Ro')
  })
})

describe('relativeTime', () => {
  const now = Date.parse('2024-05-01T12:00:00Z')
  it('formats recent times', () => {
    expect(relativeTime('2024-05-01T11:59:58Z', now)).toBe('just now')
    expect(relativeTime('2024-05-01T11:59:30Z', now)).toBe('30 s ago')
    expect(relativeTime('2024-05-01T11:59:00Z', now)).toBe('1 min ago')
    expect(relativeTime('2024-05-01T11:30:00Z', now)).toBe('30 min ago')
    expect(relativeTime('2024-05-01T09:00:00Z', now)).toBe('3 h ago')
    expect(relativeTime('2024-04-28T12:00:00Z', now)).toBe('3 d ago')
  })
  it('accepts unix seconds', () => {
    expect(relativeTime(now / 1000 - 120, now)).toBe('2 min ago')
  })
})
