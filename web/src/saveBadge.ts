import type { Connection, TransportName } from './connection'
import { h } from './format'
import { ResponseWatch } from './responseWatch'
import type { SaveTracker } from './saveState'

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'Long polling' }
export const OFFLINE_TEXT = 'Offline: your changes are kept in this browser'
/**
 * How long an edit may wait for the server's echo, with nothing at all heard from the server
 * meanwhile, before the connection counts as dead (see ResponseWatch).
 */
export const RESPONSE_DEADLINE_MS = 5000

type Status = 'connected' | 'connecting' | 'disconnected'

export interface SaveBadge {
  element: HTMLElement
  setStatus (status: Status, transport: TransportName): void
  /** An edit of ours went out: the server owes an answer. */
  sent (): void
  /** Any sync message from the server: proof that it is alive. */
  heard (): void
  render (): void
  destroy (): void
}

/**
 * The badge that says whether this person's edits are on the server: Saved, Saving…,
 * Offline (with the reconnect countdown) or Connecting…; and the watch that notices a server
 * that stopped answering, says Offline and starts a new connection.
 */
export function createSaveBadge (tracker: SaveTracker, connection: () => Connection | null): SaveBadge {
  const element = h('span', { class: 'status', id: 'conn-status', 'data-status': 'connecting', 'data-save': 'connecting', role: 'status' })
  const text = h('span', { class: 'status-text', id: 'save-status' }, 'Connecting…')
  const retry = h('span', { class: 'retry', id: 'retry-status', hidden: true })
  const transportEl = h('span', { class: 'transport', id: 'conn-transport' }, '')
  element.append(h('span', { class: 'dot', 'aria-hidden': 'true' }), text, retry, transportEl)

  let status: Status = 'connecting'
  let everConnected = false
  const response = new ResponseWatch()

  const render = () => {
    const c = connection()
    let state: 'saved' | 'saving' | 'offline' | 'connecting'
    if (status === 'connected') state = c?.synced && tracker.saved ? 'saved' : 'saving'
    else if (!everConnected && status === 'connecting') state = 'connecting'
    else state = 'offline'
    element.dataset.save = state
    text.textContent = state === 'saved' ? 'Saved' : state === 'saving' ? 'Saving…'
      : state === 'offline' ? OFFLINE_TEXT : 'Connecting…'
    const retryAt = c?.provider?.nextRetryAt ?? null
    const secs = retryAt === null ? 0 : Math.ceil((retryAt - Date.now()) / 1000)
    retry.hidden = state !== 'offline'
    retry.textContent = secs > 0 ? `Reconnecting in ${secs} s` : 'Reconnecting…'
    element.title = state === 'saved' ? 'Every change is stored on the server'
      : state === 'saving' ? 'Sending your latest changes to the server' : ''
  }

  const watch = () => {
    // Only a silence while an edit is owed counts: the server answers every edit (its echo).
    if (status !== 'connected' || !response.overdue(Date.now(), RESPONSE_DEADLINE_MS)) return
    // Silent past the deadline: drop this connection and open a new one (the edits stay in
    // the document and the new handshake carries them).
    response.settled()
    const p = connection()?.provider
    if (!p) return
    console.info('tandem: the server stopped answering; reconnecting')
    p.disconnect()
    p.connect()
  }
  const stopTracking = tracker.onChange(() => {
    if (tracker.saved) response.settled()
    render()
  })
  const ticker = setInterval(() => { watch(); render() }, 500)

  return {
    element,
    setStatus (s: Status, transport: TransportName) {
      status = s
      if (s === 'connected') everConnected = true
      // A new connection's handshake carries every pending edit: the server owes an answer
      // to it, not to the old connection.
      response.settled()
      if (s === 'connected' && !tracker.saved) response.sent(Date.now())
      element.dataset.status = s
      element.dataset.transport = transport
      transportEl.textContent = TRANSPORT_TEXT[transport]
      transportEl.dataset.transport = transport
      render()
    },
    sent () { response.sent(Date.now()) },
    heard () { response.heard(Date.now()) },
    render,
    destroy () { clearInterval(ticker); stopTracking() },
  }
}
