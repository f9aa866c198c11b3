import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { shareTitle } from './liveTitle'
import { shareRestores, type RestoreNews } from './liveRestore'

/** Two editors whose presence is relayed both ways, as the server does. */
function pair (): [Awareness, Awareness] {
  const a = new Awareness(new Y.Doc())
  const b = new Awareness(new Y.Doc())
  const relay = (from: Awareness, to: Awareness) => from.on('update', ({ added, updated, removed }: Record<string, number[]>) => {
    applyAwarenessUpdate(to, encodeAwarenessUpdate(from, [...added, ...updated, ...removed]), 'remote')
  })
  relay(a, b)
  relay(b, a)
  // Each editor's presence (its name) reaches the other on connecting, before any news.
  a.setLocalStateField('user', { name: 'A' })
  b.setLocalStateField('user', { name: 'B' })
  return [a, b]
}

describe('news through presence', () => {
  it('delivers a rename to the other editor once, and not back to the renamer', () => {
    const [a, b] = pair()
    const seenByA: string[] = []
    const seenByB: string[] = []
    const ta = shareTitle(a, (t) => seenByA.push(t))
    shareTitle(b, (t) => seenByB.push(t))
    ta.announce('Plans')
    // An unrelated presence change re-sends the state: the same news is not delivered twice.
    a.setLocalStateField('cursor', { at: 3 })
    expect(seenByB).toEqual(['Plans'])
    expect(seenByA).toEqual([])
    ta.announce('Plans, v2')
    expect(seenByB).toEqual(['Plans', 'Plans, v2'])
  })

  it('ignores news announced before the editor opened, and malformed news', () => {
    const [a, b] = pair()
    // Announced before b listens, with a far-future stamp: still old news for b.
    a.setLocalStateField('title', { text: 'old', at: Date.now() + 3_600_000 })
    const titles: string[] = []
    const restores: RestoreNews[] = []
    shareTitle(b, (t) => titles.push(t))
    shareRestores(b, (r) => restores.push(r))
    a.setLocalStateField('cursor', { at: 1 })
    a.setLocalStateField('restored', { by: 7, from: 1, saved: 2, at: 5 })
    a.setLocalStateField('title', { text: 42, at: 6 })
    expect(titles).toEqual([])
    expect(restores).toEqual([])
  })

  it('hears a peer whose clock is far behind this browser', () => {
    const [a, b] = pair()
    const titles: string[] = []
    shareTitle(b, (t) => titles.push(t))
    a.setLocalStateField('title', { text: 'from the past', at: Date.now() - 86_400_000 })
    expect(titles).toEqual(['from the past'])
  })

  it('delivers a restore with who did it, cutting an overlong name', () => {
    const [a, b] = pair()
    const got: RestoreNews[] = []
    const ra = shareRestores(a, () => {})
    const rb = shareRestores(b, (r) => got.push(r))
    ra.announce({ by: 'x'.repeat(100), from: 3, saved: 9 })
    expect(got).toEqual([{ by: 'x'.repeat(64), from: 3, saved: 9 }])
    rb.stop()
    ra.announce({ by: 'Ann', from: 4, saved: 10 })
    expect(got).toHaveLength(1)
  })
})
