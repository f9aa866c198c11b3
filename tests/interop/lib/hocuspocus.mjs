// What the Hocuspocus tests share: both published provider versions, servers and clients
// that go when the test ends (`cleanups`, run by each file's afterEach), and ways to read
// what the server holds.

import { execFileSync } from 'node:child_process'
import path from 'node:path'

import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as V4 from '@hocuspocus/provider'
import * as V3 from 'hocuspocus-provider-v3'

import { startServer, freshDataDir, waitFor as waitForEvent, httpGet, docPath, Y } from './harness.mjs'

export { V4, V3 }

/** The harness's waitFor with a longer guard: these tests run many clients on 2 cores. */
export const waitFor = (what, check, opts = {}) => waitForEvent(what, check, { timeoutMs: 20000, ...opts })

export const VERSIONS = [['4.x', V4], ['3.x', V3]]
// Each test's clients and servers go when it ends, so later tests do not share the CPU
// with them.
export const cleanups = []

/** Runs and forgets the cleanups, newest first: each test file's afterEach. */
export async function runCleanups () {
  for (const fn of cleanups.splice(0).reverse()) await fn()
}

export async function boot (label, opts = {}) {
  const data = opts.dataDir ? { dir: opts.dataDir, cleanup: () => {} } : freshDataDir(label)
  const server = await startServer({ dataDir: data.dir, ...opts })
  cleanups.push(data.cleanup)
  cleanups.push(() => server.stop())
  return { server, dataDir: data.dir }
}

export const hpUrl = (server) => server.url.replace(/^http/, 'ws') + '/hocuspocus'

/** A provider with its own Y.Doc that records what the server told it. */
export function openProvider (mod, server, name, { token, websocketProvider } = {}) {
  const ydoc = new Y.Doc()
  const seen = { scopes: [], denied: [], stateless: [], unsynced: [] }
  const provider = new mod.HocuspocusProvider({
    ...(websocketProvider ? { websocketProvider } : { url: hpUrl(server), WebSocketPolyfill: WebSocket }),
    name,
    document: ydoc,
    token: token ?? null,
    onAuthenticated: ({ scope }) => seen.scopes.push(scope),
    onAuthenticationFailed: ({ reason }) => seen.denied.push(reason),
    onStateless: ({ payload }) => seen.stateless.push(payload),
    onUnsyncedChanges: ({ number }) => seen.unsynced.push(number)
  })
  if (websocketProvider) provider.attach()
  const text = ydoc.getText('content')
  const client = {
    provider, ydoc, text, seen, toString: () => text.toString(),
    destroy () { provider.destroy(); ydoc.destroy() }
  }
  cleanups.push(() => client.destroy())
  return client
}

/** One socket for several providers; `frames` records every frame it received. */
export function sharedSocket (mod, server) {
  const frames = []
  const socket = new mod.HocuspocusProviderWebsocket({
    url: hpUrl(server),
    WebSocketPolyfill: WebSocket,
    onMessage: (event) => frames.push(new Uint8Array(event.data))
  })
  socket.frames = frames
  cleanups.push(() => socket.destroy())
  return socket
}

/** Synced and every local change acknowledged. */
export const settled = (c) => c.provider.synced && !c.provider.hasUnsyncedChanges

export async function serverText (server, doc, adminKey) {
  const headers = adminKey ? { authorization: `Bearer ${adminKey}` } : {}
  const res = await fetch(`${server.url}/api/documents/${docPath(doc)}/text`, { headers, signal: AbortSignal.timeout(10000) })
  return res.status === 200 ? res.text() : null
}

export async function metric (server, line) {
  const body = (await httpGet(`${server.url}/metrics`)).body
  const found = body.split('\n').find((l) => l.startsWith(line + ' '))
  return found ? Number(found.split(' ').pop()) : 0
}

/** How many update rows SQLite holds for the document, read by another process. */
export function storedUpdateRows (dataDir, doc) {
  const db = path.join(dataDir, 'tandem.db')
  const sql = `select count(*) from updates u join documents d on d.id = u.document_id where d.name = '${doc}'`
  return Number(execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim())
}

/** A frame's document name and message type, and a decoder at the rest of it. */
export function parse (bytes) {
  const d = decoding.createDecoder(bytes)
  return { name: decoding.readVarString(d), type: decoding.readVarUint(d), d }
}
