import type * as Y from 'yjs'
import { HttpProvider, type HttpProviderOptions } from './httpProviderBase'

export interface EventSourceLike {
  readyState: number
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: string, lastEventId?: string }) => void) | null
  addEventListener (type: string, cb: (ev: { data: string, lastEventId?: string }) => void): void
  close (): void
}
export type EventSourceCtor = new (url: string) => EventSourceLike

export interface SseProviderOptions extends HttpProviderOptions {
  EventSource?: EventSourceCtor
}

/** EventSource downstream, POST upstream (PROTOCOL.md "Server-Sent Events"). */
export class SseProvider extends HttpProvider {
  readonly transport = 'sse' as const
  es: EventSourceLike | null = null
  private readonly ES: EventSourceCtor
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private failures = 0

  constructor (baseUrl: string, roomname: string, doc: Y.Doc, opts: SseProviderOptions = {}) {
    super(baseUrl, roomname, doc, opts)
    this.ES = opts.EventSource ?? (globalThis.EventSource as unknown as EventSourceCtor)
  }

  get url (): string {
    return this.openUrl(`${this.baseUrl}/${encodeURIComponent(this.roomname)}`)
  }

  connect (): void {
    this.shouldConnect = true
    if (this.es !== null) return
    this.open()
  }

  private open (): void {
    const es = new this.ES(this.url)
    this.es = es
    this.setStatus('connecting')
    es.addEventListener('session', (ev) => {
      if (this.es !== es) return
      let id: string
      try { id = String(JSON.parse(ev.data).session) } catch { return }
      this.failures = 0
      if (id === this.session && this.status === 'connected') return
      if (id === this.session) {
        // The server resumed our session and replays what we missed: no new handshake needed.
        this.setStatus('connected')
        this.flushSoon(0)
        return
      }
      this.onSessionStart(id)
    })
    es.onmessage = (ev) => {
      if (this.es !== es) return
      if (this.status !== 'connected') {
        // A resumed stream may skip the session event; messages prove the session is alive.
        const sid = ev.lastEventId?.split(':')[0]
        if (sid && sid === this.session) { this.setStatus('connected'); this.flushSoon(0) } else return
      }
      this.receive(ev.data)
    }
    es.onerror = (ev) => {
      if (this.es !== es) return
      this.emit('connection-error', [ev])
      // readyState 2 (CLOSED): the browser gave up (e.g. HTTP error); retry ourselves.
      if (es.readyState === 2) {
        es.close()
        this.es = null
        this.setStatus('disconnected')
        this.emit('connection-close', [ev])
        this.failures++
        if (this.shouldConnect) {
          const delay = this.retryIn(Math.min(this.maxBackoffMs, 200 * 2 ** this.failures))
          this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = null
            if (this.shouldConnect && this.es === null) this.open()
          }, delay)
        }
      } else {
        this.setStatus('connecting')
        this.emit('connection-close', [ev])
      }
    }
  }

  protected onSessionLost (): void {
    // Reopening without Last-Event-ID makes the server create a new session.
    this.session = null
    if (this.es !== null) { this.es.close(); this.es = null }
    this.setStatus('disconnected')
    if (this.shouldConnect) this.open()
  }

  disconnect (): void {
    this.shouldConnect = false
    this.sendLeave()
    // Ending the session (not only closing the stream) lets others see at once that we left;
    // keepalive lets the request outlive a closing tab.
    if (this.session !== null) {
      const url = this.withToken(`${this.baseUrl}/${encodeURIComponent(this.roomname)}/${encodeURIComponent(this.session)}`)
      void this.fetchFn(url, { method: 'DELETE', headers: this.headers(), keepalive: true }).catch(() => {})
    }
    if (this.reconnectTimer !== null) { clearTimeout(this.reconnectTimer); this.reconnectTimer = null }
    if (this.es !== null) { this.es.close(); this.es = null }
    this.session = null
    this.setStatus('disconnected')
  }
}
