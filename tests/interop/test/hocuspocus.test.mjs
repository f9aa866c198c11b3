// The published @hocuspocus/provider (4.x and 3.x) against Tandem's /hocuspocus endpoint:
// convergence, sharing rooms with y-websocket clients, many documents on one socket,
// per-document tokens, stateless messages, and the sync status as a durable acknowledgement
// (sent only once the update is in the database, so it survives kill -9).
// Bad input on raw frames is in hocuspocus-frames.test.mjs.

import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'

import * as decoding from 'lib0/decoding'

import { startServer, freshDataDir, connectClient, waitSynced, uniqueDocName } from '../lib/harness.mjs'
import {
  VERSIONS, V3, V4, cleanups, runCleanups, waitFor, boot, hpUrl, openProvider, sharedSocket, settled,
  serverText, metric, storedUpdateRows, parse
} from '../lib/hocuspocus.mjs'

afterEach(runCleanups)

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
