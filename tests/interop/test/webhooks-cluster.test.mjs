// Webhooks from a cluster: three instances on one PostgreSQL database and a private NATS,
// of which exactly one delivers, and another once it dies.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName,
  postgresDatabase as createPostgresDatabase, natsServerBin, startNats
} from '../lib/harness.mjs'
import {
  FAST, cleanups, servers, clients, releaseAll, startReceiver, addEndpoint
} from '../lib/webhooks.mjs'

after(releaseAll)

const clusterPg = createPostgresDatabase('interop_webhooks_cluster')
if (clusterPg.drop) cleanups.push(clusterPg.drop)
const clusterSkip = clusterPg.skip ?? (natsServerBin() ? false : 'needs nats-server (Debian: apt-get install nats-server)')

test('cluster: three instances, exactly one delivers; when it dies another takes over', { timeout: 90000, skip: clusterSkip }, async () => {
  if (clusterPg.error) throw new Error(clusterPg.error)
  const nats = await startNats()
  cleanups.push(() => nats.kill())
  const instances = []
  for (const id of ['one', 'two', 'three']) {
    const dir = freshDataDir(`webhooks-${id}`)
    cleanups.push(dir.cleanup)
    const s = await startServer({
      dataDir: dir.dir,
      env: {
        ...FAST,
        DATABASE_URL: clusterPg.url,
        TANDEM_NATS_URL: nats.url,
        TANDEM_CLUSTER_KEY: 'interop-cluster-key-0123456789abcdef0123',
        TANDEM_INSTANCE_ID: id,
        TANDEM_NATS_SUBJECT_PREFIX: `whinterop${process.pid}`
      }
    })
    servers.push(s)
    instances.push(s)
  }
  // A slow receiver: a message stays unanswered long enough that a second deliverer would
  // find it waiting and send it too.
  const receiver = await startReceiver(() => 200, { delayMs: 400 })
  const prefix = uniqueDocName('whcluster')
  await addEndpoint(instances[0], receiver, { prefix, events: ['document.changed'] })
  // Every instance looks for endpoints (and tries their lease) every 3 s: let each one try.
  await new Promise((resolve) => setTimeout(resolve, 3500))
  const doc = `${prefix}-doc`
  const describe = () => JSON.stringify(receiver.requests.map((q) => [q.id, q.payload?.data.text])) +
    instances.map((s, i) => `\ninstance ${i}:\n${s.logs()}`).join('')
  const delivered = async (s) => {
    const text = await (await fetch(`${s.url}/metrics`)).text()
    return Number(text.match(/tandem_webhook_deliveries_total\{outcome="delivered"\} (\d+)/)?.[1] ?? 0)
  }

  // Typing through each instance in turn, one change after another.
  const typed = []
  const typeAndWait = async (k, word) => {
    const c = connectClient(instances[k], doc)
    clients.push(c)
    await waitSynced(c)
    c.text.insert(c.text.length, word)
    typed.push(word)
    const want = typed.join('')
    await waitFor(`the text ${JSON.stringify(want)} delivered`, () =>
      receiver.verified().some((q) => q.payload.data.text === want), { timeoutMs: 20000, describe })
    c.destroy()
  }
  for (const [k, word] of [[0, 'one '], [1, 'two '], [2, 'three ']]) await typeAndWait(k, word)

  // The receiver sees a request before the instance has its answer (and counts it).
  const counts = await waitFor('every answered request counted', async () => {
    const c = await Promise.all(instances.map(delivered))
    return c.reduce((x, y) => x + y) >= receiver.requests.length && c
  }, { describe })
  const deliverers = counts.map((n, k) => n > 0 ? k : -1).filter((k) => k >= 0)
  assert.equal(deliverers.length, 1, `exactly one instance delivers: ${counts}`)
  assert.equal(counts[deliverers[0]], receiver.requests.length, `${counts} vs ${receiver.requests.length} requests`)
  assert.equal(new Set(receiver.requests.map((q) => q.id)).size, receiver.requests.length, 'no message twice')
  assert.deepEqual(receiver.requests.filter((q) => q.error), [])

  // The deliverer dies; another instance takes the endpoint over from the stored cursor.
  const dead = deliverers[0]
  await instances[dead].kill()
  const alive = [0, 1, 2].filter((k) => k !== dead)
  await typeAndWait(alive[0], 'four')
  const after = await waitFor('the new delivery counted', async () => {
    const c = await Promise.all(alive.map((k) => delivered(instances[k])))
    return c.some((n) => n > 0) && c
  }, { describe })
  assert.equal(after.filter((n) => n > 0).length, 1, `one survivor delivers: ${after}`)
})
