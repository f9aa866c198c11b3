import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SaveTracker } from './saveState'

/** A client doc whose local edits feed a tracker, and a "server" doc that echoes them. */
function setup () {
  const client = new Y.Doc()
  const server = new Y.Doc()
  const tracker = new SaveTracker()
  const outbox: Uint8Array[] = []
  client.on('update', (u: Uint8Array, origin: unknown) => {
    if (origin === 'server') return
    tracker.local(u)
    outbox.push(u)
  })
  /** The server commits and echoes the next queued update. */
  const echoNext = () => {
    const u = outbox.shift()!
    Y.applyUpdate(server, u)
    Y.applyUpdate(client, u, 'server')
    tracker.fromServer(u)
  }
  return { client, server, tracker, outbox, echoNext }
}

describe('SaveTracker', () => {
  it('an insertion is saved only when its echo comes back', () => {
    const { client, tracker, echoNext } = setup()
    expect(tracker.saved).toBe(true)
    client.getText('content').insert(0, 'hello')
    expect(tracker.saved).toBe(false)
    echoNext()
    expect(tracker.saved).toBe(true)
  })

  it('a pure deletion is tracked through the delete set', () => {
    const { client, tracker, echoNext } = setup()
    client.getText('content').insert(0, 'hello')
    echoNext()
    client.getText('content').delete(1, 3)
    expect(tracker.saved).toBe(false)
    // Someone else's update (no deletions of ours) does not acknowledge it.
    const other = new Y.Doc()
    other.getText('content').insert(0, 'x')
    tracker.fromServer(Y.encodeStateAsUpdate(other))
    expect(tracker.saved).toBe(false)
    echoNext()
    expect(tracker.saved).toBe(true)
  })

  it('edits echoed merged into one update, or covered by the server state vector, are saved', () => {
    const { client, server, tracker, outbox } = setup()
    const t = client.getText('content')
    t.insert(0, 'abc'); t.insert(3, 'def'); t.delete(0, 1)
    expect(tracker.pendingCount).toBe(3)
    const merged = Y.mergeUpdates(outbox.splice(0))
    Y.applyUpdate(server, merged)
    tracker.fromServer(merged)
    expect(tracker.saved).toBe(true)

    t.insert(0, 'z')
    Y.applyUpdate(server, outbox.shift()!)
    const restored = new SaveTracker(tracker.snapshot().concat([{ clocks: { [String(client.clientID)]: 100 }, deletes: [] }]))
    expect(restored.saved).toBe(false)
    restored.fromServerStateVector(Y.encodeStateVector(server))
    expect(restored.saved).toBe(false)
    expect(restored.pendingCount).toBe(1)
  })
})
