import type { Awareness } from 'y-protocols/awareness'

/** One kind of news announced through presence, and how a listener reads it back. */
export interface NewsChannel<T> {
  announce (news: T): void
  stop (): void
}

/**
 * News that every open editor should see once (a rename, a restore) travels in the
 * announcer's awareness state as `{ [field]: { ...news, at } }`: presence already reaches
 * every peer on every transport, and the server keeps the durable fact.
 *
 * What counts as news is a change: the first state seen from each peer is its baseline (news
 * it announced before this editor opened is old), and each later change of that peer's `at`
 * is delivered once. `at` is only compared with the same peer's previous value, never with
 * this browser's clock, so peers whose clocks disagree still hear each other.
 *
 * `read` validates a remote value (another client's awareness is untrusted input) and
 * returns null to ignore it.
 */
export function presenceNews<T extends object> (
  awareness: Awareness,
  field: string,
  read: (raw: Record<string, unknown>) => T | null,
  onRemote: (news: T) => void,
): NewsChannel<T> {
  const lastSeen = new Map<number, unknown>()
  const stampOf = (state: unknown): unknown => {
    const raw = (state as Record<string, unknown> | null)?.[field]
    return raw !== null && typeof raw === 'object' ? (raw as { at?: unknown }).at : undefined
  }
  // Peers already known when this editor starts listening hold old news.
  for (const [client, state] of awareness.getStates()) lastSeen.set(client, stampOf(state))
  const onChange = () => {
    for (const [client, state] of awareness.getStates()) {
      if (client === awareness.clientID) continue
      const at = stampOf(state)
      if (!lastSeen.has(client)) { lastSeen.set(client, at); continue }
      if (at === lastSeen.get(client)) continue
      lastSeen.set(client, at)
      if (typeof at !== 'number') continue
      const news = read((state as Record<string, Record<string, unknown>>)[field])
      if (news !== null) onRemote(news)
    }
  }
  awareness.on('change', onChange)
  let stamp = 0
  return {
    announce (news: T) {
      // Strictly increasing, so two announcements in one millisecond are both news.
      stamp = Math.max(stamp + 1, Date.now())
      awareness.setLocalStateField(field, { ...news, at: stamp })
    },
    stop () { awareness.off('change', onChange) },
  }
}
