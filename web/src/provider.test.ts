import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import { PollProvider, SseProvider, type EventSourceLike } from './httpProvider'
import { Connection, type ProviderLike, type TransportName } from './connection'
import { MSG_AUTH, MSG_AWARENESS, MSG_SYNC, bytesToBase64, decoding, encodeMessage, encoding } from './protocol'
import { ObservableV2 } from 'lib0/observable'

/** A miniature y-websocket server: one Y.Doc + awareness, speaking the same messages. */
class FakeServer {
  doc = new Y.Doc()
  awareness = new awarenessProtocol.Awareness(this.doc)
  received: number[] = [] // message types, in order
  syncKinds: number[] = []
  constructor () { this.awareness.setLocalState(null) }

  step1 (): string {
    return bytesToBase64(encodeMessage((e) => { encoding.writeVarUint(e, MSG_SYNC); syncProtocol.writeSyncStep1(e, this.doc) }))
  }

  update (u: Uint8Array): string {
    return bytesToBase64(encodeMessage((e) => { encoding.writeVarUint(e, MSG_SYNC); syncProtocol.writeUpdate(e, u) }))
  }

  /** Processes a POST body (concatenated messages) and returns the replies as base64. */
  handle (body: Uint8Array): string[] {
    const replies: string[] = []
    const d = decoding.createDecoder(body)
    while (decoding.hasContent(d)) {
      const type = decoding.readVarUint(d)
      this.received.push(type)
      if (type === MSG_SYNC) {
        const enc = encoding.createEncoder()
        encoding.writeVarUint(enc, MSG_SYNC)
        const kind = syncProtocol.readSyncMessage(d, enc, this.doc, 'client')
        this.syncKinds.push(kind)
        if (encoding.length(enc) > 1) replies.push(bytesToBase64(encoding.toUint8Array(enc)))
      } else if (type === MSG_AWARENESS) {
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(d), 'client')
      } else {
        throw new Error('unexpected type ' + type)
      }
    }
    return replies
  }
}

class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = []
  readyState = 0
  onerror: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: string, lastEventId?: string }) => void) | null = null
  listeners = new Map<string, (ev: { data: string }) => void>()
  closed = false
  constructor (readonly url: string) { FakeEventSource.instances.push(this) }
  addEventListener (type: string, cb: (ev: { data: string }) => void) { this.listeners.set(type, cb) }
  close () { this.closed = true; this.readyState = 2 }
  session (id: string) { this.readyState = 1; this.listeners.get('session')!({ data: JSON.stringify({ session: id }) }) }
  message (b64: string, id = 's:1') { this.onmessage!({ data: b64, lastEventId: id }) }
}

type Call = { url: string, method: string, body: Uint8Array | null, headers: Record<string, string> }

// Fake timers: the providers' batching delays, retries and backoff run when a test advances
// the clock, not in real time, so the outcome never depends on how busy the machine is.
// Promises (fetch answers) settle between the timers that advancing runs.
const tick = async (ms = 40) => { await vi.advanceTimersByTimeAsync(ms) }

beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }) })
afterEach(() => {
  vi.useRealTimers()
  FakeEventSource.instances = []
})

function sseSetup (server: FakeServer, postStatus: () => number = () => 204, token: string | null = null) {
  const calls: Call[] = []
  const fetchFn = vi.fn(async (url: string, init: RequestInit) => {
    const body = init.body ? new Uint8Array(init.body as Uint8Array) : null
    calls.push({ url, method: init.method ?? 'GET', body, headers: (init.headers ?? {}) as Record<string, string> })
    const status = postStatus()
    if (status === 204 && body) {
      // deliver the server's replies down the event stream like the real server would
      const es = FakeEventSource.instances.at(-1)!
      for (const r of server.handle(body)) queueMicrotask(() => es.message(r))
    }
    return new Response(null, { status })
  })
  const doc = new Y.Doc()
  const provider = new SseProvider('http://h/sse', 'notes', doc, {
    EventSource: FakeEventSource, fetch: fetchFn as unknown as typeof fetch, token, batchDelayMs: 5,
  })
  return { calls, doc, provider }
}

describe('SseProvider', () => {
  it('does the handshake, syncs both ways and reports status', async () => {
    const server = new FakeServer()
    server.doc.getText('content').insert(0, 'server text ')
    const { calls, doc, provider } = sseSetup(server, () => 204, 'tok.en.x')
    doc.getText('content').insert(0, 'offline edit')
    provider.awareness.setLocalStateField('user', { name: 'alice', color: '#000', colorLight: '#0003' })
    const statuses: string[] = []
    const syncs: boolean[] = []
    provider.on('status', (e) => statuses.push(e.status))
    provider.on('sync', (s) => syncs.push(s))
    await tick(0)
    const es = FakeEventSource.instances[0]
    expect(es.url).toBe('http://h/sse/notes?token=tok.en.x')
    es.session('S1')
    expect(provider.status).toBe('connected')
    es.message(server.step1(), 'S1:1')
    await tick()
    // one POST carrying step 1, awareness and the step 2 answer: batched
    expect(calls.length).toBe(1)
    expect(calls[0].url).toBe('http://h/sse/notes/S1?token=tok.en.x')
    expect(calls[0].headers.Authorization).toBe('Bearer tok.en.x')
    expect(server.received.slice(0, 3)).toEqual([MSG_SYNC, MSG_AWARENESS, MSG_SYNC])
    expect(server.syncKinds.slice(0, 2)).toEqual([syncProtocol.messageYjsSyncStep1, syncProtocol.messageYjsSyncStep2])
    await tick()
    expect(provider.synced).toBe(true)
    expect(syncs).toEqual([true])
    expect(statuses).toContain('connected')
    const text = server.doc.getText('content').toString()
    expect(doc.getText('content').toString()).toBe(text)
    expect(text).toContain('offline edit')
    expect(text).toContain('server text')
    expect((server.awareness.getStates().get(doc.clientID) as any).user.name).toBe('alice')

    // live edits flow both ways
    doc.getText('content').insert(0, '>')
    await tick()
    expect(server.doc.getText('content').toString().startsWith('>')).toBe(true)
    const before = Y.encodeStateVector(doc)
    server.doc.getText('content').insert(server.doc.getText('content').length, '<')
    es.message(server.update(Y.encodeStateAsUpdate(server.doc, before)), 'S1:2')
    expect(doc.getText('content').toString().endsWith('<')).toBe(true)
    provider.destroy()
    expect(es.closed).toBe(true)
  })

  it('batches a burst of local edits into one POST', async () => {
    const server = new FakeServer()
    const { calls, doc, provider } = sseSetup(server)
    await tick(0)
    FakeEventSource.instances[0].session('S1')
    await tick()
    const n = calls.length
    for (let i = 0; i < 5; i++) doc.getText('content').insert(i, String(i))
    await tick()
    expect(calls.length).toBe(n + 1)
    expect(server.doc.getText('content').toString()).toBe('01234')
    provider.destroy()
  })

  it('starts over with a fresh step 1 on a new session event and after a 410', async () => {
    const server = new FakeServer()
    let status = 204
    const { calls, doc, provider } = sseSetup(server, () => status)
    await tick(0)
    const es = FakeEventSource.instances[0]
    es.session('S1')
    await tick()
    const firstCount = server.syncKinds.filter((k) => k === syncProtocol.messageYjsSyncStep1).length
    expect(firstCount).toBe(1)
    // the same session id again (resumed stream) must not redo the handshake
    es.session('S1')
    await tick()
    expect(server.syncKinds.filter((k) => k === 0).length).toBe(1)
    es.session('S2')
    await tick()
    expect(server.syncKinds.filter((k) => k === 0).length).toBe(2)
    expect(calls.at(-1)!.url).toBe('http://h/sse/notes/S2')

    // expired session: POST answers 410 -> reopen the stream without Last-Event-ID
    status = 410
    doc.getText('content').insert(0, 'x')
    await tick()
    expect(es.closed).toBe(true)
    const es2 = FakeEventSource.instances.at(-1)!
    expect(es2).not.toBe(es)
    expect(provider.status).toBe('connecting')
    status = 204
    es2.session('S3')
    await tick()
    expect(server.syncKinds.filter((k) => k === 0).length).toBe(3)
    es2.message(server.step1(), 'S3:1')
    await tick()
    expect(server.doc.getText('content').toString()).toBe('x')
    provider.destroy()
  })

  it('edits made while the stream reconnects are sent when the same session resumes', async () => {
    const server = new FakeServer()
    const { calls, doc, provider } = sseSetup(server)
    await tick(0)
    const es = FakeEventSource.instances[0]
    es.session('S1')
    await tick()
    // the browser lost the stream and is retrying by itself (readyState CONNECTING)
    es.readyState = 0
    es.onerror!({})
    expect(provider.status).toBe('connecting')
    const n = calls.length
    doc.getText('content').insert(0, 'typed offline')
    await tick()
    expect(calls.length).toBe(n) // nothing is posted while not connected
    es.session('S1')
    await tick()
    expect(calls.length).toBe(n + 1)
    expect(server.syncKinds.filter((k) => k === syncProtocol.messageYjsSyncStep1).length).toBe(1)
    expect(server.doc.getText('content').toString()).toBe('typed offline')
    provider.destroy()
  })

  it('permission denied makes the provider read-only', async () => {
    const server = new FakeServer()
    const { provider } = sseSetup(server)
    const denied: string[] = []
    provider.on('permission-denied', (r) => denied.push(r))
    await tick(0)
    const es = FakeEventSource.instances[0]
    es.session('S1')
    es.message(bytesToBase64(encodeMessage((e) => {
      encoding.writeVarUint(e, MSG_AUTH)
      authProtocol.writePermissionDenied(e, 'read only token')
    })))
    expect(provider.readOnly).toBe(true)
    expect(denied).toEqual(['read only token'])
    provider.destroy()
  })

  it('a closed stream reports disconnected and removes remote cursors', async () => {
    const server = new FakeServer()
    const { provider } = sseSetup(server)
    await tick(0)
    const es = FakeEventSource.instances[0]
    es.session('S1')
    const other = new awarenessProtocol.Awareness(new Y.Doc())
    other.setLocalStateField('user', { name: 'bob' })
    es.message(bytesToBase64(encodeMessage((e) => {
      encoding.writeVarUint(e, MSG_AWARENESS)
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(other, [other.clientID]))
    })))
    expect(provider.awareness.getStates().has(other.clientID)).toBe(true)
    es.readyState = 2
    es.onerror!({})
    expect(provider.status).toBe('disconnected')
    expect(provider.awareness.getStates().has(other.clientID)).toBe(false)
    provider.destroy()
  })
})

describe('PollProvider', () => {
  it('opens a session, polls with the cursor, converges and restarts after 410', async () => {
    const server = new FakeServer()
    server.doc.getText('content').insert(0, 'hello')
    const outbox: string[] = []
    let seq = 0
    let sessions = 0
    const gets: string[] = []
    let expire = false
    const waiting: Array<() => void> = []
    const fetchFn = async (url: string, init: RequestInit = {}) => {
      const method = init.method ?? 'GET'
      if (method === 'POST' && url === 'http://h/poll/notes') {
        sessions++
        seq = 0
        outbox.length = 0
        outbox.push(server.step1())
        return Response.json({ session: 'P' + sessions }, { status: 201 })
      }
      if (method === 'POST') {
        if (expire) return new Response(null, { status: 410 })
        outbox.push(...server.handle(new Uint8Array(init.body as Uint8Array)))
        waiting.splice(0).forEach((w) => w())
        return new Response(null, { status: 204 })
      }
      if (method === 'GET') {
        gets.push(url)
        if (expire) return new Response(null, { status: 410 })
        const cursor = Number(new URL(url).searchParams.get('cursor'))
        if (outbox.length <= cursor) {
          await new Promise<void>((resolve, reject) => {
            waiting.push(resolve)
            init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
          })
        }
        seq = outbox.length
        return Response.json({ cursor: seq, messages: outbox.slice(cursor) })
      }
      return new Response(null, { status: 204 })
    }
    const doc = new Y.Doc()
    const provider = new PollProvider('http://h/poll', 'notes', doc, { fetch: fetchFn as typeof fetch, batchDelayMs: 5 })
    const statuses: string[] = []
    provider.on('status', (e) => statuses.push(e.status))
    doc.getText('content').insert(0, 'local ')
    await tick(100)
    expect(statuses.slice(0, 2)).toEqual(['connecting', 'connected'])
    expect(provider.synced).toBe(true)
    expect(doc.getText('content').toString()).toBe(server.doc.getText('content').toString())
    expect(doc.getText('content').toString()).toContain('hello')
    expect(server.doc.getText('content').toString()).toContain('local')
    expect(gets[0]).toBe('http://h/poll/notes/P1?cursor=0')
    expect(gets.some((g) => /cursor=[1-9]/.test(g))).toBe(true)

    // the server forgets the session: the provider opens a new one and handshakes again
    expire = true
    waiting.splice(0).forEach((w) => w())
    await tick(20)
    expire = false
    await tick(600)
    expect(sessions).toBeGreaterThanOrEqual(2)
    expect(gets.some((g) => g.startsWith('http://h/poll/notes/P2?cursor=0'))).toBe(true)
    const step1s = server.syncKinds.filter((k) => k === syncProtocol.messageYjsSyncStep1).length
    expect(step1s).toBeGreaterThanOrEqual(2)
    expect(provider.status).toBe('connected')
    provider.destroy()
  })
})

class FakeProvider extends ObservableV2<any> implements ProviderLike {
  awareness = new awarenessProtocol.Awareness(new Y.Doc())
  synced = false
  destroyed = false
  constructor (readonly name: TransportName, behaviour: 'ok' | 'close' | 'silent') {
    super()
    setTimeout(() => {
      this.emit('status', [{ status: 'connecting' }])
      if (behaviour === 'ok') this.emit('status', [{ status: 'connected' }])
      if (behaviour === 'close') this.emit('connection-close', [null])
    }, 5)
  }
  connect () {}
  disconnect () {}
  destroy () { this.destroyed = true; super.destroy() }
}

describe('Connection fallback', () => {
  it('falls back websocket -> sse when websocket closes before opening', async () => {
    const made: FakeProvider[] = []
    const c = new Connection(['websocket', 'sse', 'poll'], (n) => {
      const p = new FakeProvider(n, n === 'websocket' ? 'close' : 'ok'); made.push(p); return p
    }, 1000)
    const failed: string[] = []
    c.on('failed', (t) => failed.push(t))
    const started = c.start()
    await tick(20)
    expect(await started).toBe('sse')
    expect(made.map((p) => p.name)).toEqual(['websocket', 'sse'])
    expect(made[0].destroyed).toBe(true)
    expect(made[1].destroyed).toBe(false)
    expect(failed).toEqual(['websocket'])
    expect(c.transport).toBe('sse')
    expect(c.status).toBe('connected')
    c.destroy()
  })

  it('times out silent transports and ends on poll', async () => {
    const made: FakeProvider[] = []
    const c = new Connection(['websocket', 'sse', 'poll'], (n) => {
      const p = new FakeProvider(n, n === 'poll' ? 'ok' : 'silent'); made.push(p); return p
    }, 50)
    const started = c.start()
    await tick(200)
    expect(await started).toBe('poll')
    expect(made.map((p) => [p.name, p.destroyed])).toEqual([['websocket', true], ['sse', true], ['poll', false]])
    c.destroy()
  })

  it('keeps the last transport (retrying) when all fail', async () => {
    const made: FakeProvider[] = []
    const c = new Connection(['sse'], (n) => { const p = new FakeProvider(n, 'close'); made.push(p); return p }, 50)
    const started = c.start()
    await tick(200)
    expect(await started).toBeNull()
    expect(made[0].destroyed).toBe(false)
    expect(c.provider).toBe(made[0])
    c.destroy()
    expect(made[0].destroyed).toBe(true)
  })
})
