// Cluster mode with the published y-websocket client: two Tandem instances of one cluster (one
// fresh PostgreSQL database, a private nats-server between them), clients on both. They edit
// at random and converge; presence crosses instances; when an instance dies, its client
// carries on through the other one and loses nothing.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, mulberry32, randInt,
  uniqueDocName, httpGet, docPath, postgresDatabase, natsServerBin, startNats, Y
} from '../lib/harness.mjs'

const SEED = Number(process.env.INTEROP_SEED ?? 0x13c1)
const pg = postgresDatabase('interop_cluster')
const skip = pg.skip ?? (natsServerBin() ? false : 'needs nats-server (Debian: apt-get install nats-server)')

let nats
const instances = []
const clients = []
const cleanups = []

before(async () => {
  if (skip) return
  if (pg.error) throw new Error(pg.error)
  cleanups.push(pg.drop)
  nats = await startNats()
  const prefix = `interop${process.pid}`
  for (const id of ['one', 'two']) {
    const data = freshDataDir(`cluster-${id}`)
    cleanups.push(data.cleanup)
    instances.push(await startServer({
      dataDir: data.dir,
      env: {
        DATABASE_URL: pg.url,
        TANDEM_NATS_URL: nats.url,
        TANDEM_CLUSTER_KEY: 'interop-cluster-key-0123456789abcdef0123',
        TANDEM_INSTANCE_ID: id,
        TANDEM_NATS_SUBJECT_PREFIX: prefix,
        TANDEM_CLUSTER_RESYNC_MS: '500'
      }
    }))
  }
})

after(async () => {
  for (const c of clients) c.destroy()
  for (const s of instances) await s.stop()
  if (nats) await nats.kill()
  for (const fn of cleanups.reverse()) fn()
})

function open (server, doc) {
  const c = connectClient(server, doc)
  clients.push(c)
  return c
}

function describe (list) {
  return list.map((c, i) => `client ${i}: synced=${c.provider.synced} text=${JSON.stringify(c.toString().slice(0, 80))}`)
    .join('\n') + instances.map((s, i) => `\ninstance ${i} log tail:\n${s.logs()}`).join('')
}

test(`y-websocket clients on two instances converge (seed ${SEED})`, { skip, timeout: 120000 }, async () => {
  const rand = mulberry32(SEED)
  const doc = uniqueDocName('cluster')
  const editors = [open(instances[0], doc), open(instances[1], doc), open(instances[0], doc), open(instances[1], doc)]
  await Promise.all(editors.map((c, i) => waitSynced(c, 15000, `sync of client ${i}`)))

  for (let round = 0; round < 60; round++) {
    for (let k = 0; k < 3; k++) {
      const c = editors[randInt(rand, 0, editors.length - 1)]
      const len = c.text.length
      if (len > 4 && rand() < 0.3) {
        const pos = randInt(rand, 0, len - 2)
        c.text.delete(pos, Math.min(randInt(rand, 1, 3), len - pos))
      } else {
        c.text.insert(randInt(rand, 0, len), `w${round}.${k} `)
      }
    }
    // let the messages flow between bursts
    await new Promise((resolve) => setImmediate(resolve))
  }
  // Converged: every client holds every client's edits (state vectors) and the same text.
  const complete = () => {
    const want = new Map(editors.map((c) => [c.ydoc.clientID, Y.getState(c.ydoc.store, c.ydoc.clientID)]))
    return editors.every((c) => {
      const sv = Y.decodeStateVector(Y.encodeStateVector(c.ydoc))
      return [...want].every(([id, clock]) => (sv.get(id) ?? 0) >= clock)
    }) && editors.every((c) => c.toString() === editors[0].toString())
  }
  await waitFor('the clients to converge', complete, { timeoutMs: 60000, describe: () => describe(editors) })
  const text = editors[0].toString()
  assert.ok(text.length > 0)
  for (const [i, s] of instances.entries()) {
    const res = await httpGet(`${s.url}/api/documents/${docPath(doc)}/text`)
    assert.equal(res.status, 200)
    assert.equal(res.body, text, `/text on instance ${i}`)
  }
})

test('presence crosses instances', { skip, timeout: 60000 }, async () => {
  const doc = uniqueDocName('cluster-presence')
  const ann = open(instances[0], doc)
  const bob = open(instances[1], doc)
  await Promise.all([waitSynced(ann), waitSynced(bob)])
  ann.awareness.setLocalStateField('user', { name: 'ann' })
  bob.awareness.setLocalStateField('user', { name: 'bob' })
  const sees = (c, id, name) => c.awareness.getStates().get(id)?.user?.name === name
  await waitFor('bob to see ann', () => sees(bob, ann.ydoc.clientID, 'ann'), { timeoutMs: 30000 })
  await waitFor('ann to see bob', () => sees(ann, bob.ydoc.clientID, 'bob'), { timeoutMs: 30000 })
})

test('a client of an instance that dies carries on through the other and loses nothing', { skip, timeout: 120000 }, async () => {
  const doc = uniqueDocName('cluster-failover')
  const writer = open(instances[1], doc)
  const reader = open(instances[0], doc)
  await Promise.all([waitSynced(writer), waitSynced(reader)])
  writer.text.insert(0, 'before the crash. ')
  await waitFor('the reader to see the first edit', () => reader.toString() === 'before the crash. ', { timeoutMs: 30000 })

  await instances[1].kill()
  await waitFor('the writer to notice', () => !writer.provider.wsconnected, { timeoutMs: 30000 })
  // Typed while cut off: only in the writer's Y.Doc.
  writer.text.insert(writer.text.length, 'typed offline.')
  // The app (or a load balancer) points the same document at the surviving instance.
  const held = Y.encodeStateAsUpdate(writer.ydoc)
  writer.destroy()
  const moved = connectClient(instances[0], doc)
  clients.push(moved)
  Y.applyUpdate(moved.ydoc, held)
  await waitSynced(moved, 15000, 'the moved client to sync with the survivor')
  const want = 'before the crash. typed offline.'
  await waitFor('the reader to get what was typed offline', () => reader.toString() === want, {
    timeoutMs: 30000, describe: () => describe([reader, moved])
  })
  const res = await httpGet(`${instances[0].url}/api/documents/${docPath(doc)}/text`)
  assert.equal(res.body, want)
})
