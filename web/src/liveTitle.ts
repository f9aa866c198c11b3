import type { Awareness } from 'y-protocols/awareness'
import { presenceNews } from './presenceNews'

/**
 * A rename reaches the other open editors through presence (the server already holds the
 * title; this only spares the others a reload).
 */
export function shareTitle (awareness: Awareness, onRemote: (title: string) => void): { announce (title: string): void, stop (): void } {
  const channel = presenceNews(awareness, 'title',
    (raw) => typeof raw.text === 'string' ? { text: raw.text.slice(0, 200) } : null,
    (news) => onRemote(news.text))
  return { announce: (title: string) => channel.announce({ text: title }), stop: channel.stop }
}
