import * as Y from 'yjs'

/**
 * Knows which local edits the server has durably stored. Tandem relays an update (to the
 * sender too) only after committing it, so an edit counts as saved once the server sends back
 * something that contains it: the echo of the update, a later sync step 2, or a state vector
 * (sync step 1) that covers its insertions.
 *
 * An edit is identified by what it adds (the highest clock per client) and what it deletes
 * (delete-set ranges): deletions do not advance any clock, so clocks alone cannot tell.
 */

/** One unacknowledged local edit. Plain data so it can be kept in localStorage. */
export interface PendingEdit {
  /** client id -> clock the server must reach */
  clocks: Record<string, number>
  /** [client, clock, length] ranges the server must have deleted */
  deletes: Array<[number, number, number]>
}

function describeUpdate (update: Uint8Array): PendingEdit {
  const { structs, ds } = Y.decodeUpdate(update)
  const clocks: Record<string, number> = {}
  for (const s of structs) {
    // Skip structs only mark gaps in an update; they add nothing.
    if (s instanceof Y.Skip) continue
    const end = s.id.clock + s.length
    const k = String(s.id.client)
    if ((clocks[k] ?? 0) < end) clocks[k] = end
  }
  const deletes: Array<[number, number, number]> = []
  ds.clients.forEach((items, client) => {
    for (const it of items) deletes.push([client, it.clock, it.len])
  })
  return { clocks, deletes }
}

function rangeCovered (ranges: Array<[number, number, number]>, [c, clock, len]: [number, number, number]): boolean {
  // Ranges of one update may be split or merged differently than ours: walk the covered span.
  let at = clock
  const end = clock + len
  const mine = ranges.filter(([rc]) => rc === c).sort((a, b) => a[1] - b[1])
  for (const [, rclock, rlen] of mine) {
    if (rclock > at) break
    if (rclock + rlen > at) at = rclock + rlen
    if (at >= end) return true
  }
  return at >= end
}

export class SaveTracker {
  private pending: PendingEdit[] = []
  /** Highest clock per client the server has shown us. */
  private acked = new Map<number, number>()
  private listeners = new Set<() => void>()

  constructor (restored: PendingEdit[] = []) {
    this.pending = restored.map((p) => ({ clocks: { ...p.clocks }, deletes: p.deletes.map((d) => [...d] as [number, number, number]) }))
  }

  get pendingCount (): number { return this.pending.length }
  get saved (): boolean { return this.pending.length === 0 }
  snapshot (): PendingEdit[] { return this.pending.map((p) => ({ clocks: { ...p.clocks }, deletes: [...p.deletes] })) }

  onChange (f: () => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  /** A local edit that still has to reach the server. */
  local (update: Uint8Array): void {
    const edit = describeUpdate(update)
    if (Object.keys(edit.clocks).length === 0 && edit.deletes.length === 0) return
    this.pending.push(edit)
    this.settle()
  }

  /** An update (echo, relay or sync step 2) the server sent: it is committed. */
  fromServer (update: Uint8Array): void {
    const seen = describeUpdate(update)
    for (const [k, clock] of Object.entries(seen.clocks)) this.ack(Number(k), clock)
    if (seen.deletes.length > 0) {
      for (const p of this.pending) {
        p.deletes = p.deletes.filter((d) => !rangeCovered(seen.deletes, d))
      }
    }
    this.settle()
  }

  /** The server's state vector (its sync step 1): insertions up to these clocks are stored. */
  fromServerStateVector (sv: Uint8Array): void {
    Y.decodeStateVector(sv).forEach((clock, client) => this.ack(client, clock))
    this.settle()
  }

  private ack (client: number, clock: number): void {
    if ((this.acked.get(client) ?? 0) < clock) this.acked.set(client, clock)
  }

  private settle (): void {
    this.pending = this.pending.filter((p) => {
      const clocksDone = Object.entries(p.clocks).every(([k, c]) => (this.acked.get(Number(k)) ?? 0) >= c)
      return !(clocksDone && p.deletes.length === 0)
    })
    for (const f of this.listeners) f()
  }
}
