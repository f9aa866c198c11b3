import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import { ObservableV2 } from 'lib0/observable'
import {
  MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC,
  base64ToBytes, concatMessages, decoding, encodeMessage, encoding, peekSync, type ServerSync,
} from './protocol'

export type ConnStatus = 'connected' | 'connecting' | 'disconnected'

export type ProviderEvents = {
  status: (e: { status: ConnStatus }) => void
  sync: (synced: boolean) => void
  synced: (synced: boolean) => void
  'permission-denied': (reason: string) => void
  'connection-error': (e: unknown) => void
  'connection-close': (e: unknown) => void
  'server-sync': (m: ServerSync) => void
}

type FetchFn = typeof fetch

export interface HttpProviderOptions {
  awareness?: awarenessProtocol.Awareness
  connect?: boolean
  token?: string | null
  /** The identity of the document this client holds a copy of (`?doc_id=` on opening). */
  docId?: number | null
  fetch?: FetchFn
  /** Delay to gather several outgoing messages into one POST (keystrokes come in bursts). */
  batchDelayMs?: number
  maxBackoffMs?: number
}

/**
 * Shared y-websocket protocol handling for the HTTP transports. Subclasses only move bytes:
 * they call `onSessionStart()` when the server opened a fresh session, `receive()` for every
 * server message and implement `postBody()` for the upstream direction.
 */
export abstract class HttpProvider extends ObservableV2<ProviderEvents> {
  readonly doc: Y.Doc
  readonly awareness: awarenessProtocol.Awareness
  readonly baseUrl: string
  readonly roomname: string
  readonly token: string | null
  /** Set once the editor learns it (a document stored only after this page opened it). */
  docId: number | null
  abstract readonly transport: 'sse' | 'poll'
  status: ConnStatus = 'disconnected'
  readOnly = false
  shouldConnect = false
  session: string | null = null
  /** When the next reconnection attempt happens (ms since epoch), while one is scheduled. */
  nextRetryAt: number | null = null
  protected fetchFn: FetchFn
  protected batchDelayMs: number
  protected maxBackoffMs: number
  protected queue: Uint8Array[] = []
  protected flushTimer: ReturnType<typeof setTimeout> | null = null
  protected flushing = false
  protected postFailures = 0
  private _synced = false
  private readonly onDocUpdate: (update: Uint8Array, origin: unknown) => void
  private readonly onAwarenessUpdate: (
    changes: { added: number[], updated: number[], removed: number[] }, origin: unknown) => void

  constructor (baseUrl: string, roomname: string, doc: Y.Doc, opts: HttpProviderOptions = {}) {
    super()
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.roomname = roomname
    this.doc = doc
    this.awareness = opts.awareness ?? new awarenessProtocol.Awareness(doc)
    this.token = opts.token ?? null
    this.docId = opts.docId ?? null
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init))
    this.batchDelayMs = opts.batchDelayMs ?? 15
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000

    this.onDocUpdate = (update, origin) => {
      if (origin === this) return
      this.enqueue(encodeMessage((e) => {
        encoding.writeVarUint(e, MSG_SYNC)
        syncProtocol.writeUpdate(e, update)
      }))
    }
    this.onAwarenessUpdate = ({ added, updated, removed }, origin) => {
      // Remote states we just applied are already known to the server.
      if (origin === this) return
      const changed = added.concat(updated, removed)
      this.enqueue(this.awarenessMessage(changed))
    }
    doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
    if (opts.connect !== false) queueMicrotask(() => this.connect())
  }

  get synced (): boolean { return this._synced }
  set synced (value: boolean) {
    if (this._synced === value) return
    this._synced = value
    this.emit('synced', [value])
    this.emit('sync', [value])
  }

  get wsconnected (): boolean { return this.status === 'connected' }

  protected setStatus (status: ConnStatus): void {
    if (this.status === status) return
    this.status = status
    if (status === 'connected') this.nextRetryAt = null
    if (status !== 'connected') {
      this.synced = false
      this.dropRemoteAwareness()
    }
    this.emit('status', [{ status }])
    // Anything queued while we were away goes out now (a resumed session keeps its queue).
    if (status === 'connected' && this.queue.length > 0) this.flushSoon(0)
  }

  /** Records a scheduled reconnection so the editor can say when it happens. */
  protected retryIn (ms: number): number {
    this.nextRetryAt = Date.now() + ms
    return ms
  }

  /**
   * The address that opens a session: it names the document's identity, so the server
   * refuses (410) a copy of a deleted document before it could be written into a new one.
   */
  protected openUrl (url: string): string {
    const u = this.withToken(url)
    if (this.docId === null) return u
    return u + (u.includes('?') ? '&' : '?') + 'doc_id=' + String(this.docId)
  }

  protected withToken (url: string): string {
    if (!this.token) return url
    return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(this.token)
  }

  protected headers (extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra
  }

  protected awarenessMessage (clients: number[], states?: Map<number, unknown>): Uint8Array {
    return encodeMessage((e) => {
      encoding.writeVarUint(e, MSG_AWARENESS)
      encoding.writeVarUint8Array(e,
        awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients, states as any))
    })
  }

  /**
   * The server forgot us (new session): whatever was queued belongs to the old session and is
   * covered by the fresh handshake, because sync step 1/2 exchange every missing update.
   */
  protected onSessionStart (session: string): void {
    this.session = session
    this.queue = []
    this.postFailures = 0
    this.synced = false
    this.setStatus('connected')
    this.enqueue(encodeMessage((e) => {
      encoding.writeVarUint(e, MSG_SYNC)
      syncProtocol.writeSyncStep1(e, this.doc)
    }))
    if (this.awareness.getLocalState() !== null) {
      this.enqueue(this.awarenessMessage([this.doc.clientID]))
    }
    this.flushSoon(0)
  }

  /** Handles one server frame; a frame may hold several concatenated protocol messages. */
  receive (data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? base64ToBytes(data) : data
    const decoder = decoding.createDecoder(bytes)
    while (decoding.hasContent(decoder)) {
      const type = decoding.readVarUint(decoder)
      switch (type) {
        case MSG_SYNC: {
          const seen = peekSync(decoder)
          const reply = encoding.createEncoder()
          encoding.writeVarUint(reply, MSG_SYNC)
          const syncType = syncProtocol.readSyncMessage(decoder, reply, this.doc, this)
          if (encoding.length(reply) > 1) this.enqueue(encoding.toUint8Array(reply))
          if (syncType === syncProtocol.messageYjsSyncStep2) this.synced = true
          if (seen) this.emit('server-sync', [seen])
          break
        }
        case MSG_AWARENESS:
          awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
          break
        case MSG_QUERY_AWARENESS:
          this.enqueue(this.awarenessMessage(Array.from(this.awareness.getStates().keys())))
          break
        case MSG_AUTH:
          authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) => {
            this.readOnly = true
            this.emit('permission-denied', [reason])
          })
          break
        default:
          // Unknown type: its length is unknown too, so the rest of the frame is unreadable.
          console.warn('tandem: unknown message type', type)
          return
      }
    }
  }

  protected enqueue (msg: Uint8Array): void {
    this.queue.push(msg)
    this.flushSoon(this.batchDelayMs)
  }

  protected flushSoon (delay: number): void {
    if (this.flushTimer !== null || this.flushing) return
    this.flushTimer = setTimeout(() => { this.flushTimer = null; void this.flush() }, delay)
  }

  /** Sends everything queued as one POST; one request in flight at a time keeps order. */
  async flush (): Promise<void> {
    if (this.flushing || this.queue.length === 0) return
    if (this.status !== 'connected' || this.session === null) return
    const batch = this.queue
    const session = this.session
    this.queue = []
    this.flushing = true
    let retryDelay = -1
    try {
      const res = await this.fetchFn(this.withToken(`${this.baseUrl}/${encodeURIComponent(this.roomname)}/${encodeURIComponent(session)}`), {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/octet-stream' }),
        body: concatMessages(batch) as BodyInit,
      })
      if (res.status === 410) {
        if (this.session === session) this.onSessionLost()
      } else if (res.status === 401 || res.status === 403) {
        this.readOnly = true
        this.emit('permission-denied', [`HTTP ${res.status}`])
      } else if (!res.ok) {
        throw new Error(`POST failed with ${res.status}`)
      } else {
        this.postFailures = 0
      }
    } catch (err) {
      // Yjs updates are idempotent, so resending after an unknown outcome is safe.
      if (this.session === session) this.queue = batch.concat(this.queue)
      this.postFailures++
      retryDelay = Math.min(this.maxBackoffMs, 100 * 2 ** this.postFailures)
      this.emit('connection-error', [err])
    } finally {
      this.flushing = false
    }
    if (this.queue.length > 0) this.flushSoon(retryDelay >= 0 ? retryDelay : 0)
  }

  private dropRemoteAwareness (): void {
    const remote = Array.from(this.awareness.getStates().keys()).filter((c) => c !== this.doc.clientID)
    if (remote.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, remote, this)
  }

  /** Best effort "I left" so others drop our cursor immediately instead of after a timeout. */
  protected sendLeave (): void {
    if (this.session === null || this.status !== 'connected') return
    const msg = this.awarenessMessage([this.doc.clientID], new Map())
    void this.fetchFn(this.withToken(`${this.baseUrl}/${encodeURIComponent(this.roomname)}/${encodeURIComponent(this.session)}`), {
      method: 'POST',
      headers: this.headers({ 'Content-Type': 'application/octet-stream' }),
      body: msg as BodyInit,
      keepalive: true,
    }).catch(() => {})
  }

  /** The server no longer knows our session (410): start over with a new one. */
  protected abstract onSessionLost (): void
  abstract connect (): void
  abstract disconnect (): void

  destroy (): void {
    this.disconnect()
    if (this.flushTimer !== null) clearTimeout(this.flushTimer)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.off('update', this.onAwarenessUpdate)
    super.destroy()
  }
}
