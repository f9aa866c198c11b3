import type { Connection, TransportName } from './connection'
import { h } from './format'
import type { SaveTracker } from './saveState'

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'Long polling' }
export const OFFLINE_TEXT = 'Offline: your changes are kept in this browser'
/**
 * How long an edit may wait for the server's echo, with nothing at all heard from the server
 * meanwhile, before the connection counts as dead. A frozen server (or a half-open network)
 * keeps the socket open and answers nothing; the transports' own timeouts take 30 s or more.
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
  // When the server last said anything, and when we last sent an edit (or connected).
  let lastHeard = 0
  let lastSent = 0

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
    // Only a silence after an edit counts: the server answers every edit (its echo).
    if (status !== 'connected' || tracker.saved || lastSent <= lastHeard) return
    if (Date.now() - lastSent < RESPONSE_DEADLINE_MS) return
    // Silent past the deadline: drop this connection and open a new one (the edits stay in
    // the document and the new handshake carries them).
    lastSent = 0
    const p = connection()?.provider
    if (!p) return
    console.info('tandem: the server stopped answering; reconnecting')
    p.disconnect()
    p.connect()
  }
  const stopTracking = tracker.onChange(render)
  const ticker = setInterval(() => { watch(); render() }, 500)

  return {
    element,
    setStatus (s: Status, transport: TransportName) {
      status = s
      if (s === 'connected') everConnected = true
      lastSent = 0
      element.dataset.status = s
      element.dataset.transport = transport
      transportEl.textContent = TRANSPORT_TEXT[transport]
      transportEl.dataset.transport = transport
      render()
    },
    // The first unanswered edit starts the clock; later ones do not push the deadline back.
    sent () { if (lastSent <= lastHeard) lastSent = Date.now() },
    heard () { lastHeard = Date.now() },
    render,
    destroy () { clearInterval(ticker); stopTracking() },
  }
}
