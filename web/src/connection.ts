import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import * as decoding from 'lib0/decoding'
import { ObservableV2 } from 'lib0/observable'
import { PollProvider, SseProvider } from './httpProvider'
import { MSG_AUTH, MSG_SYNC, peekSync, type ServerSync } from './protocol'

export type TransportName = 'websocket' | 'sse' | 'poll'
export const ALL_TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'poll']

export function isTransportName(s: unknown): s is TransportName {
  return typeof s === 'string' && (ALL_TRANSPORTS as readonly string[]).includes(s)
}

/**
 * Which transports to try, best first. A forced transport (URL parameter) is tried alone even
 * when the server does not advertise it, so that the failure is visible instead of silently
 * replaced. Unknown `enabled` (config unreachable) means "try everything".
 */
export function transportOrder(enabled: readonly string[] | null, forced: string | null): TransportName[] {
  if (isTransportName(forced)) return [forced]
  const order = ALL_TRANSPORTS.filter((t) => enabled === null || enabled.includes(t))
  return order.length > 0 ? order : [...ALL_TRANSPORTS]
}

/** The part of WebsocketProvider's surface that the editor relies on; our providers match it. */
export interface ProviderLike {
  awareness: awarenessProtocol.Awareness
  synced: boolean
  /** When the provider tries again (ms since epoch), if it is waiting to reconnect. */
  nextRetryAt?: number | null
  on (name: string, f: (...args: any[]) => void): void
  off (name: string, f: (...args: any[]) => void): void
  connect (): void
  disconnect (): void
  destroy (): void
}

export type ProviderFactory = (name: TransportName) => ProviderLike

export type ConnectionEvents = {
  status: (e: { status: 'connected' | 'connecting' | 'disconnected', transport: TransportName }) => void
  sync: (synced: boolean) => void
  'permission-denied': (reason: string) => void
  failed: (transport: TransportName) => void
}

export interface ProviderConfig {
  origin: string
  doc: string
  ydoc: Y.Doc
  awareness: awarenessProtocol.Awareness
  token: string | null
  /** The identity of the document the local copy belongs to, sent so the server can refuse a stale copy. */
  docId?: number | null
  /** Every sync message the server sends (after it was applied): the save tracker's input. */
  onServerSync?: (m: ServerSync) => void
}

export function createProvider (name: TransportName, cfg: ProviderConfig,
  onPermissionDenied: (reason: string) => void): ProviderLike {
  const params: Record<string, string> = cfg.token ? { token: cfg.token } : {}
  if (cfg.docId != null) params.doc_id = String(cfg.docId)
  if (name === 'websocket') {
    const wsOrigin = cfg.origin.replace(/^http/, 'ws')
    const p = new WebsocketProvider(wsOrigin + '/ws', cfg.doc, cfg.ydoc, {
      awareness: cfg.awareness,
      params,
      // Cross-tab BroadcastChannel would hide transport problems and is not needed here.
      disableBc: true,
      maxBackoffTime: 5000,
    })
    const sync = p.messageHandlers[MSG_SYNC]
    p.messageHandlers[MSG_SYNC] = (enc, dec: decoding.Decoder, prov, emitSynced, type) => {
      const seen = peekSync(dec)
      sync(enc, dec, prov, emitSynced, type)
      if (seen) cfg.onServerSync?.(seen)
    }
    // y-websocket backs off 2^n * 100 ms after a close (n counted right after this event).
    const ws = p as unknown as { wsUnsuccessfulReconnects: number, maxBackoffTime: number, nextRetryAt: number | null }
    p.on('connection-close', () => queueMicrotask(() => {
      ws.nextRetryAt = Date.now() + Math.min(2 ** ws.wsUnsuccessfulReconnects * 100, ws.maxBackoffTime)
    }))
    p.on('status', ({ status }) => { if (status === 'connected') ws.nextRetryAt = null })
    // y-websocket only logs permission denials; we turn them into read-only mode.
    p.messageHandlers[MSG_AUTH] = (_enc, dec: decoding.Decoder) => {
      authProtocol.readAuthMessage(dec, cfg.ydoc, (_y, reason) => onPermissionDenied(reason))
    }
    return p as unknown as ProviderLike
  }
  const opts = { awareness: cfg.awareness, token: cfg.token, docId: cfg.docId ?? null }
  const p = name === 'sse'
    ? new SseProvider(cfg.origin + '/sse', cfg.doc, cfg.ydoc, opts)
    : new PollProvider(cfg.origin + '/poll', cfg.doc, cfg.ydoc, opts)
  p.on('permission-denied', onPermissionDenied)
  if (cfg.onServerSync) p.on('server-sync', cfg.onServerSync)
  return p
}

/**
 * Tries transports in order until one connects within `timeoutMs`. The last candidate is kept
 * even if it fails, since its own reconnect loop is then the best we can do (offline edits
 * stay in the Y.Doc and merge when it gets through).
 */
export class Connection extends ObservableV2<ConnectionEvents> {
  provider: ProviderLike | null = null
  transport: TransportName
  status: 'connected' | 'connecting' | 'disconnected' = 'connecting'
  synced = false
  private destroyed = false
  private cleanup: (() => void) | null = null

  constructor (readonly order: TransportName[], private readonly factory: ProviderFactory,
    private readonly timeoutMs = 4000) {
    super()
    this.transport = order[0]
  }

  async start (): Promise<TransportName | null> {
    for (let i = 0; i < this.order.length; i++) {
      if (this.destroyed) return null
      const name = this.order[i]
      const last = i === this.order.length - 1
      const ok = await this.attempt(name, last)
      if (ok) return name
      if (!last) this.emit('failed', [name])
    }
    return null
  }

  private attempt (name: TransportName, last: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      this.transport = name
      const p = this.factory(name)
      this.provider = p
      let decided = false
      const onStatus = (e: { status: 'connected' | 'connecting' | 'disconnected' }) => {
        if (this.provider !== p) return
        this.status = e.status
        this.emit('status', [{ status: e.status, transport: name }])
        if (e.status === 'connected') decide(true)
      }
      const onSync = (s: boolean) => {
        if (this.provider !== p) return
        this.synced = s
        this.emit('sync', [s])
      }
      const onFail = () => decide(false)
      const timer = setTimeout(() => decide(false), this.timeoutMs)
      const detach = () => {
        p.off('status', onStatus)
        p.off('sync', onSync)
      }
      const decide = (ok: boolean) => {
        if (decided) return
        decided = true
        clearTimeout(timer)
        p.off('connection-close', onFail)
        p.off('connection-error', onFail)
        if (!ok && !last) {
          detach()
          p.destroy()
          this.provider = null
        } else {
          this.cleanup = detach
        }
        resolve(ok)
      }
      p.on('status', onStatus)
      p.on('sync', onSync)
      p.on('connection-close', onFail)
      p.on('connection-error', onFail)
      this.emit('status', [{ status: 'connecting', transport: name }])
      if (this.destroyed) decide(false)
    })
  }

  destroy (): void {
    this.destroyed = true
    this.cleanup?.()
    this.provider?.destroy()
    this.provider = null
    super.destroy()
  }
}
