// The published @hocuspocus/provider (4.x and 3.x) against Tandem's /hocuspocus endpoint:
// convergence, sharing rooms with y-websocket clients, many documents on one socket,
// per-document tokens, stateless messages, and the sync status as a durable acknowledgement
// (sent only once the update is in the database, so it survives kill -9).

import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'

import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as V4 from '@hocuspocus/provider'
import * as V3 from 'hocuspocus-provider-v3'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor as waitForEvent, uniqueDocName,
  httpGet, docPath, Y
} from '../lib/harness.mjs'

/** The harness's waitFor with a longer guard: these tests run many clients on 2 cores. */
const waitFor = (what, check, opts = {}) => waitForEvent(what, check, { timeoutMs: 20000, ...opts })

const VERSIONS = [['4.x', V4], ['3.x', V3]]
// Each test's clients and servers go when it ends, so later tests do not share the CPU
// with them.
const cleanups = []

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function boot (label, opts = {}) {
  const data = opts.dataDir ? { dir: opts.dataDir, cleanup: () => {} } : freshDataDir(label)
  const server = await startServer({ dataDir: data.dir, ...opts })
  cleanups.push(data.cleanup)
  cleanups.push(() => server.stop())
  return { server, dataDir: data.dir }
}

const hpUrl = (server) => server.url.replace(/^http/, 'ws') + '/hocuspocus'

/** A provider with its own Y.Doc that records what the server told it. */
function openProvider (mod, server, name, { token, websocketProvider } = {}) {
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
function sharedSocket (mod, server) {
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
const settled = (c) => c.provider.synced && !c.provider.hasUnsyncedChanges

async function serverText (server, doc, adminKey) {
  const headers = adminKey ? { authorization: `Bearer ${adminKey}` } : {}
  const res = await fetch(`${server.url}/api/documents/${docPath(doc)}/text`, { headers, signal: AbortSignal.timeout(10000) })
  return res.status === 200 ? res.text() : null
}

async function metric (server, line) {
  const body = (await httpGet(`${server.url}/metrics`)).body
  const found = body.split('\n').find((l) => l.startsWith(line + ' '))
  return found ? Number(found.split(' ').pop()) : 0
}

/** How many update rows SQLite holds for the document, read by another process. */
function storedUpdateRows (dataDir, doc) {
  const db = path.join(dataDir, 'tandem.db')
  const sql = `select count(*) from updates u join documents d on d.id = u.document_id where d.name = '${doc}'`
  return Number(execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim())
}

for (const [version, mod] of VERSIONS) {
  test(`${version}: two providers converge`, { timeout: 30000 }, async () => {
    const { server } = await boot('hp-converge')
    const doc = uniqueDocName('hp')
    const a = openProvider(mod, server, doc)
    const b = openProvider(mod, server, doc)
    await waitFor('both providers synced', () => a.provider.synced && b.provider.synced)
    a.text.insert(0, 'hello ')
    b.text.insert(0, 'world ')
    await waitFor('providers to converge', () => a.toString() === b.toString() && a.toString().length === 12, {
      describe: () => `a=${JSON.stringify(a.toString())} b=${JSON.stringify(b.toString())}\n${server.logs()}`
    })
    await waitFor('both acknowledged', () => settled(a) && settled(b))
    assert.equal(await serverText(server, doc), a.toString())
    assert.deepEqual(a.seen.scopes, ['read-write'])
  })

  test(`${version}: a provider and a y-websocket client share the room`, { timeout: 30000 }, async () => {
    const { server } = await boot('hp-mixed')
    const doc = uniqueDocName('hp-mixed')
    const hp = openProvider(mod, server, doc)
    const yw = connectClient(server, doc)
    cleanups.push(() => yw.destroy())
    await waitFor('provider synced', () => hp.provider.synced)
    await waitSynced(yw)
    hp.text.insert(0, 'from hocuspocus. ')
    yw.text.insert(0, 'from y-websocket. ')
    hp.provider.setAwarenessField('user', { name: 'hp' })
    await waitFor('both to converge', () => hp.toString() === yw.toString() && hp.toString().length === 35, {
      describe: () => `hp=${JSON.stringify(hp.toString())} yw=${JSON.stringify(yw.toString())}`
    })
    await waitFor('y-websocket client to see the provider\'s presence',
      () => yw.awareness.getStates().get(hp.ydoc.clientID)?.user?.name === 'hp')
  })
}

test('one shared socket carries three documents; closing one leaves the others', { timeout: 30000 }, async () => {
  const { server } = await boot('hp-shared')
  const socket = sharedSocket(V4, server)
  const names = [uniqueDocName('hp-s1'), uniqueDocName('hp-s2'), uniqueDocName('hp-s3')]
  const clients = names.map((n) => openProvider(V4, server, n, { websocketProvider: socket }))
  await waitFor('all three synced', () => clients.every((c) => c.provider.synced))
  clients.forEach((c, i) => c.text.insert(0, `document ${i}`))
  await waitFor('all acknowledged', () => clients.every(settled))
  for (const [i, n] of names.entries()) assert.equal(await serverText(server, n), `document ${i}`)
  assert.equal(await metric(server, 'tandem_connections_opened_total{transport="hocuspocus"}'), 1)
  await waitFor('three document peers', async () =>
    (await metric(server, 'tandem_connections{transport="hocuspocus"}')) === 3)

  // Detaching one document sends a close for it alone.
  clients[0].provider.detach()
  await waitFor('two document peers left', async () =>
    (await metric(server, 'tandem_connections{transport="hocuspocus"}')) === 2)
  clients[1].text.insert(0, 'still open: ')
  await waitFor('the other documents keep working', async () =>
    (await serverText(server, names[1])) === 'still open: document 1')
  // Other clients of the same documents see the edit too (rooms are shared).
  const reader = connectClient(server, names[1])
  cleanups.push(() => reader.destroy())
  await waitFor('y-websocket reader sees it', () => reader.toString() === 'still open: document 1')
})

test('tokens per document: read-write, read-only and refusal on one socket', { timeout: 30000 }, async () => {
  const admin = 'hp-admin-key'
  const { server } = await boot('hp-auth', { env: { TANDEM_SECRET: 'hp-secret', TANDEM_ADMIN_KEY: admin } })
  const mint = async (doc, access) => {
    const res = await fetch(`${server.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ doc, access, expires_in: 600 })
    })
    assert.equal(res.status, 201)
    return (await res.json()).token
  }
  const [writable, readable, other] = [uniqueDocName('hp-w'), uniqueDocName('hp-r'), uniqueDocName('hp-x')]
  const seed = connectClient(server, readable, { params: { token: await mint(readable, 'write') } })
  cleanups.push(() => seed.destroy())
  await waitSynced(seed)
  seed.text.insert(0, 'seeded')
  await waitFor('seed stored', async () => (await serverText(server, readable, admin)) === 'seeded')

  const socket = sharedSocket(V4, server)
  const w = openProvider(V4, server, writable, { websocketProvider: socket, token: await mint(writable, 'write') })
  // The token may be a function, as apps fetch it from their backend.
  const readToken = await mint(readable, 'read')
  const r = openProvider(V4, server, readable, { websocketProvider: socket, token: async () => readToken })
  const x = openProvider(V4, server, other, { websocketProvider: socket, token: await mint(writable, 'write') })

  await waitFor('answers for all three', () =>
    w.seen.scopes.length + r.seen.scopes.length + x.seen.denied.length === 3, {
    describe: () => JSON.stringify({ w: w.seen, r: r.seen, x: x.seen })
  })
  assert.deepEqual(w.seen.scopes, ['read-write'])
  assert.deepEqual(r.seen.scopes, ['readonly'])
  assert.deepEqual(x.seen.scopes, [])
  assert.match(x.seen.denied[0], /does not grant access to this document/)

  await waitFor('read-only provider receives the document', () => r.toString() === 'seeded')
  // Its empty answer to the server's step 1 has nothing to refuse: it is "saved" (status 1).
  await waitFor('read-only provider told its empty step 2 is saved', () => socket.frames.some((f) => {
    const p = parse(f)
    return p.name === readable && p.type === 8 && decoding.readVarUint(p.d) === 1
  }))
  r.text.insert(0, 'not allowed ')
  w.text.insert(0, 'allowed')
  await waitFor('write acknowledged', () => settled(w))
  assert.equal(await serverText(server, writable, admin), 'allowed')
  // The read-only edit is refused (sync status 0): never acknowledged, never stored.
  await waitFor('read-only provider told its edit is not saved', () => socket.frames.some((f) => {
    const p = parse(f)
    return p.name === readable && p.type === 8 && decoding.readVarUint(p.d) === 0
  }))
  assert.equal(r.provider.hasUnsyncedChanges, true)
  assert.equal(await serverText(server, readable, admin), 'seeded')
  assert.equal(seed.toString(), 'seeded')
  assert.equal(await serverText(server, other, admin), null)
})

test('a document whose token expires is closed: the provider is told, and nothing more is written or received', { timeout: 30000 }, async () => {
  const admin = 'hp-admin-key'
  const { server } = await boot('hp-expiry', { env: { TANDEM_SECRET: 'hp-secret', TANDEM_ADMIN_KEY: admin } })
  const mint = async (doc, expiresIn) => {
    const res = await fetch(`${server.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ doc, access: 'write', expires_in: expiresIn })
    })
    assert.equal(res.status, 201)
    return (await res.json()).token
  }
  const doc = uniqueDocName('hp-exp')
  const short = openProvider(V4, server, doc, { token: await mint(doc, 2) })
  const other = openProvider(V4, server, doc, { token: await mint(doc, 600) })
  await waitFor('both authenticated', () => short.seen.scopes.length === 1 && other.seen.scopes.length === 1)
  short.text.insert(0, 'before ')
  await waitFor('the write before expiry', async () => (await serverText(server, doc, admin)) === 'before ')
  await waitFor('expiry told to the provider', () => short.seen.denied.length === 1, { timeoutMs: 8000 })
  assert.equal(short.seen.denied[0], 'access token expired')
  // Neither way any more: its edit stays local, the other's does not reach it.
  short.text.insert(short.text.length, 'after')
  other.text.insert(other.text.length, 'other')
  await waitFor('the other write', async () => (await serverText(server, doc, admin)) === 'before other')
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.equal(await serverText(server, doc, admin), 'before other')
  assert.equal(short.toString(), 'before after')
})

test('stateless messages reach the document\'s other Hocuspocus clients', { timeout: 30000 }, async () => {
  const { server } = await boot('hp-stateless')
  const doc = uniqueDocName('hp-stateless')
  const a = openProvider(V4, server, doc)
  const b = openProvider(V3, server, doc)
  const elsewhere = openProvider(V4, server, uniqueDocName('hp-stateless-other'))
  await waitFor('synced', () => [a, b, elsewhere].every((c) => c.provider.synced))
  a.provider.sendStateless('{"ping":1}')
  b.provider.sendStateless('{"pong":2}')
  await waitFor('b hears a', () => b.seen.stateless.includes('{"ping":1}'))
  await waitFor('a hears b', () => a.seen.stateless.includes('{"pong":2}'))
  // A marker sent after the others arrives after them (one room, one ordered queue).
  a.provider.sendStateless('end')
  await waitFor('b hears the marker', () => b.seen.stateless.includes('end'))
  assert.deepEqual(a.seen.stateless, ['{"pong":2}'])
  assert.deepEqual(elsewhere.seen.stateless, [])
})

test('sync status arrives only after the update is in the database', { timeout: 30000 }, async () => {
  // A slow group commit: an acknowledgement sent on receipt would arrive before the row.
  const { server, dataDir } = await boot('hp-ack', { env: { TANDEM_GROUP_COMMIT_MS: '300' } })
  const doc = uniqueDocName('hp-ack')
  const c = openProvider(V4, server, doc)
  await waitFor('synced', () => settled(c))
  const checks = []
  c.provider.on('unsyncedChanges', ({ number }) => {
    // Synchronously, at the moment the acknowledgement is applied.
    if (number === 0) checks.push(storedUpdateRows(dataDir, doc))
  })
  for (let i = 1; i <= 3; i++) {
    c.text.insert(c.text.length, `edit ${i}. `)
    await waitFor(`ack ${i}`, () => checks.length === i)
    assert.ok(checks[i - 1] >= i, `acknowledged edit ${i} with only ${checks[i - 1]} rows stored`)
  }
})

test('kill -9 loses nothing acknowledged; providers reconnect and keep everything', { timeout: 60000 }, async () => {
  const data = freshDataDir('hp-crash')
  cleanups.push(data.cleanup)
  const first = await startServer({ dataDir: data.dir, env: { TANDEM_GROUP_COMMIT_MS: '200' } })
  cleanups.push(() => first.stop())
  const doc = uniqueDocName('hp-crash')
  const c = openProvider(V4, first, doc)
  await waitFor('synced', () => settled(c))
  let acknowledged = null
  c.provider.on('unsyncedChanges', ({ number }) => {
    // Kill the server the instant it says "saved".
    if (number === 0 && acknowledged === null && c.toString().length > 0) {
      acknowledged = c.toString()
      first.child.kill('SIGKILL')
    }
  })
  c.text.insert(0, 'acknowledged text')
  await waitFor('acknowledged and killed', () => acknowledged !== null)
  await first.kill()
  // Typed while the server is down: the provider resends it after reconnecting.
  c.text.insert(c.text.length, ' + offline')

  const second = await startServer({ dataDir: data.dir })
  cleanups.push(() => second.stop())
  const fresh = connectClient(second, doc)
  cleanups.push(() => fresh.destroy())
  await waitSynced(fresh, 15000)
  assert.equal(fresh.toString(), 'acknowledged text')

  // The provider reconnects (to the new address) and syncs what it typed offline.
  c.provider.configuration.websocketProvider.setConfiguration({ url: hpUrl(second) })
  await waitFor('offline edit reaches the restarted server', () => fresh.toString() === 'acknowledged text + offline', {
    timeoutMs: 30000, describe: () => `fresh=${JSON.stringify(fresh.toString())}\n${second.logs()}`
  })
  await waitFor('provider settled again', () => settled(c), { timeoutMs: 15000 })
  await second.stop()
  const third = await startServer({ dataDir: data.dir })
  cleanups.push(() => third.stop())
  await waitFor('stored after a clean restart', async () =>
    (await serverText(third, doc)) === 'acknowledged text + offline')
})

// ----- raw frames: bad input -------------------------------------------------------------

function rawSocket (server) {
  const ws = new WebSocket(hpUrl(server))
  ws.binaryType = 'arraybuffer'
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const frames = []
  ws.on('message', (data) => frames.push(new Uint8Array(data)))
  const opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject) })
  cleanups.push(() => ws.terminate())
  return { ws, opened, closed, frames }
}

function frame (name, type, write = () => {}) {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, name)
  encoding.writeVarUint(e, type)
  write(e)
  return encoding.toUint8Array(e)
}

const authFrame = (name, token) => frame(name, 2, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, token) })

function parse (bytes) {
  const d = decoding.createDecoder(bytes)
  return { name: decoding.readVarString(d), type: decoding.readVarUint(d), d }
}

test('a malformed frame closes the socket with 1007 and a reason', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-bad')
  const s = rawSocket(server)
  await s.opened
  s.ws.send(authFrame('bad-frame', ''))
  await waitFor('authenticated', () => s.frames.length > 0)
  // An update whose declared length runs past the end of the frame.
  s.ws.send(frame('bad-frame', 0, (e) => { encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 200); encoding.writeUint8(e, 1) }))
  const { code, reason } = await s.closed
  assert.equal(code, 1007)
  assert.match(reason, /invalid message: sync message does not decode/)
})

test('unknown message types are skipped and counted', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-unknown')
  const before = await metric(server, 'tandem_unknown_messages_total')
  const s = rawSocket(server)
  await s.opened
  const doc = uniqueDocName('hp-unknown')
  s.ws.send(authFrame(doc, ''))
  s.ws.send(frame(doc, 42, (e) => encoding.writeVarString(e, 'whatever')))
  // Still served afterwards: a sync step 1 gets its reply.
  s.ws.send(frame(doc, 0, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc())) }))
  await waitFor('sync step 2 reply', () => s.frames.some((f) => { const p = parse(f); return p.type === 0 && decoding.readVarUint(p.d) === 1 }))
  assert.equal(await metric(server, 'tandem_unknown_messages_total'), before + 1)
  assert.equal(s.ws.readyState, WebSocket.OPEN)
})

test('frames are held until the token, within a cap', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-held', { env: { TANDEM_SECRET: 'hp-secret', TANDEM_AUTH_TIMEOUT_SECS: '2' } })
  const s = rawSocket(server)
  await s.opened
  const doc = uniqueDocName('hp-held')
  // Before any token: nothing is answered.
  s.ws.send(frame(doc, 3))
  s.ws.send(authFrame(doc, 'not-a-jwt'))
  await waitFor('refusal', () => s.frames.length === 1)
  const p = parse(s.frames[0])
  assert.equal(p.name, doc)
  assert.equal(p.type, 2)
  assert.equal(decoding.readVarUint(p.d), 1)
  assert.match(decoding.readVarString(p.d), /token/)

  // A socket none of whose tokens was accepted may send only a little: frames past 64 KiB
  // wait unread, and the socket is closed when its time to authenticate is up.
  const big = new Uint8Array(64 * 1024)
  for (let i = 0; i < 80; i++) s.ws.send(frame(`${doc}-wait`, 5, (e) => encoding.writeVarUint8Array(e, big)))
  const { code, reason } = await s.closed
  assert.equal(code, 4408)
  assert.match(reason, /no token accepted within 2 s/)
})

test('once a token is accepted, frames for documents without one fill a per-socket cap', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-held-cap')
  const s = rawSocket(server)
  await s.opened
  const doc = uniqueDocName('hp-held-cap')
  s.ws.send(authFrame(doc, ''))
  await waitFor('authenticated', () => s.frames.map(parse).find((p) => p.name === doc && p.type === 2))
  const big = new Uint8Array(64 * 1024)
  for (let i = 0; i < 80; i++) s.ws.send(frame(`${doc}-wait`, 5, (e) => encoding.writeVarUint8Array(e, big)))
  const { code, reason } = await s.closed
  assert.equal(code, 1008)
  assert.match(reason, /before authentication/)
})

test('documents per socket are capped; refusals name the limit', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-cap')
  const s = rawSocket(server)
  await s.opened
  const base = uniqueDocName('hp-cap')
  for (let i = 0; i <= 100; i++) s.ws.send(authFrame(`${base}-${i}`, ''))
  const last = await waitFor('an answer for the 101st document', () =>
    s.frames.map(parse).find((p) => p.name === `${base}-100` && p.type === 2))
  assert.equal(s.frames.map(parse).filter((p) => p.type === 2).length, 101)
  assert.equal(decoding.readVarUint(last.d), 1)
  assert.match(decoding.readVarString(last.d), /too many documents on one connection \(limit 100\)/)
  assert.equal(s.ws.readyState, WebSocket.OPEN)
})

test('an invalid document name is refused for that document only', { timeout: 20000 }, async () => {
  const { server } = await boot('hp-name')
  const s = rawSocket(server)
  await s.opened
  const good = uniqueDocName('hp-name')
  s.ws.send(authFrame('bad/name', ''))
  s.ws.send(authFrame(good, ''))
  const answers = await waitFor('both answers', () => {
    const a = s.frames.map(parse).filter((p) => p.type === 2)
    return a.length === 2 ? a : null
  })
  assert.equal(answers[0].name, 'bad/name')
  assert.equal(decoding.readVarUint(answers[0].d), 1)
  assert.match(decoding.readVarString(answers[0].d), /document name/)
  assert.equal(answers[1].name, good)
  assert.equal(decoding.readVarUint(answers[1].d), 2)
  assert.equal(decoding.readVarString(answers[1].d), 'read-write')
})

test('a socket that stops reading is closed with 1013, all its documents with it', { timeout: 90000 }, async () => {
  const { server } = await boot('hp-slow', {
    env: { TANDEM_OUTBOUND_QUEUE: '4', TANDEM_COMPACT_BYTES: String(1 << 30) }
  })
  const doc = uniqueDocName('hp-slow')
  const slow = rawSocket(server)
  await slow.opened
  slow.ws.send(authFrame(doc, ''))
  slow.ws.send(authFrame(`${doc}-other`, ''))
  await waitFor('both documents open', () => slow.frames.map(parse).filter((p) => p.type === 2).length === 2)
  const hocuspocusPeers = () => metric(server, 'tandem_connections{transport="hocuspocus"}')
  await waitFor('two Hocuspocus peers', async () => (await hocuspocusPeers()) === 2)
  slow.ws._socket.pause()

  // Updates come through the HTTP API, so no other connection can be the slow one.
  const source = new Y.Doc()
  const chunk = 'x'.repeat(1024 * 1024)
  const post = async () => {
    const before = Y.encodeStateVector(source)
    source.getText('content').insert(0, chunk)
    const res = await fetch(`${server.url}/api/documents/${docPath(doc)}/updates`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Y.encodeStateAsUpdate(source, before)
    })
    assert.equal(res.status, 204)
  }
  // Write until the room drops the slow socket's peer for that document.
  await waitFor('the slow peer to be dropped', async () => {
    await post()
    return (await hocuspocusPeers()) === 1
  }, { timeoutMs: 60000, intervalMs: 10 })
  slow.ws._socket.resume()
  const { code, reason } = await slow.closed
  assert.equal(code, 1013)
  assert.match(reason, /too slow/)
  // The socket's other document went with it.
  await waitFor('no Hocuspocus peers left', async () => (await hocuspocusPeers()) === 0)
})

test('a burst of updates in one commit is acknowledged without overflowing a small queue', { timeout: 30000 }, async () => {
  const { server } = await boot('hp-burst', { env: { TANDEM_OUTBOUND_QUEUE: '16', TANDEM_GROUP_COMMIT_MS: '300' } })
  const doc = uniqueDocName('hp-burst')
  const c = openProvider(V4, server, doc)
  await waitFor('synced', () => settled(c))
  let dropped = 0
  c.provider.on('disconnect', () => { dropped++ })
  // 60 updates (one per keystroke) while the first commit waits out its window: more
  // acknowledgements than the queue has slots.
  for (let i = 0; i < 60; i++) c.text.insert(c.text.length, 'k')
  await waitFor('all 60 acknowledged', () => settled(c))
  assert.equal(dropped, 0)
  assert.equal(await serverText(server, doc), 'k'.repeat(60))
})
