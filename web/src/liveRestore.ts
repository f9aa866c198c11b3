import type { Awareness } from 'y-protocols/awareness'
import { presenceNews, type NewsChannel } from './presenceNews'

/** What another editor is told of a restore: who, which version, and the version it made. */
export interface RestoreNews { by: string, from: number, saved: number }

/**
 * A restore replaces everyone's text at once; the others are told who did it and from which
 * version, through presence, as a rename is (`liveTitle.ts`).
 */
export function shareRestores (awareness: Awareness, onRemote: (news: RestoreNews) => void): NewsChannel<RestoreNews> {
  return presenceNews(awareness, 'restored', (raw) => {
    if (typeof raw.by !== 'string' || typeof raw.from !== 'number' || typeof raw.saved !== 'number') return null
    return { by: raw.by.slice(0, 64), from: raw.from, saved: raw.saved }
  }, onRemote)
}
