import type { Awareness } from 'y-protocols/awareness'

/** What another editor is told of a restore: who, which version, and the version it made. */
export interface RestoreNews { by: string, from: number, saved: number }

/**
 * A restore replaces everyone's text at once; the others are told who did it and from which
 * version, through presence (the restorer's awareness state carries `{ restored: {...} }`),
 * as a rename is (`liveTitle.ts`). An editor takes the announcements made since it opened.
 */
export function shareRestores (awareness: Awareness, onRemote: (news: RestoreNews) => void): { announce (news: RestoreNews): void, stop (): void } {
  let newest = Date.now()
  const onChange = () => {
    for (const [client, state] of awareness.getStates()) {
      if (client === awareness.clientID) continue
      const r = (state as { restored?: Partial<RestoreNews> & { at?: unknown } }).restored
      if (typeof r?.at !== 'number' || r.at <= newest) continue
      if (typeof r.by !== 'string' || typeof r.from !== 'number' || typeof r.saved !== 'number') continue
      newest = r.at
      onRemote({ by: r.by.slice(0, 64), from: r.from, saved: r.saved })
    }
  }
  awareness.on('change', onChange)
  return {
    announce (news: RestoreNews) {
      newest = Math.max(newest, Date.now())
      awareness.setLocalStateField('restored', { ...news, at: newest })
    },
    stop () { awareness.off('change', onChange) },
  }
}
