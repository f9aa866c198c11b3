import type { Awareness } from 'y-protocols/awareness'

/**
 * A rename reaches the other open editors through presence: the renamer's awareness state
 * carries `{ title: { text, at } }`, and an editor takes the newest one announced since it
 * opened (the server already holds the title; this only spares the others a reload).
 */
export function shareTitle (awareness: Awareness, onRemote: (title: string) => void): { announce (title: string): void, stop (): void } {
  let newest = Date.now()
  const onChange = () => {
    for (const [client, state] of awareness.getStates()) {
      if (client === awareness.clientID) continue
      const t = (state as { title?: { text?: unknown, at?: unknown } }).title
      if (typeof t?.text !== 'string' || typeof t.at !== 'number' || t.at <= newest) continue
      newest = t.at
      onRemote(t.text.slice(0, 200))
    }
  }
  awareness.on('change', onChange)
  return {
    announce (title: string) {
      newest = Math.max(newest, Date.now())
      awareness.setLocalStateField('title', { text: title, at: newest })
    },
    stop () { awareness.off('change', onChange) },
  }
}
