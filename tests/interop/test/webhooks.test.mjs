// Webhooks against a real receiver: an HTTP server started here that checks every request's
// signature with the published `standardwebhooks` package (not Tandem's code). Delivered and
// verified; 500 twice then 200 (same webhook-id each time); 410 (endpoint disabled); the
// server killed with -9 while a delivery is in flight (delivered after the restart, same id);
// internal addresses refused. On SQLite, and on PostgreSQL when TANDEM_TEST_PG_URL is set;
// there also three cluster instances, of which exactly one delivers, and another once it dies.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { execFile } from 'node:child_process'
import { Webhook } from 'standardwebhooks'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName,
  postgresDatabase as createPostgresDatabase, natsServerBin, startNats, serverBin
} from '../lib/harness.mjs'

const ADMIN = 'webhook-admin-key'
const cleanups = []
const servers = []
const clients = []
const receivers = []

after(async () => {
  for (const c of clients) c.destroy()
  for (const s of servers) await s.stop()
  for (const r of receivers) r.close()
  for (const fn of cleanups.reverse()) fn()
})

// Short timings so the test runs in seconds; the rules themselves are unit-tested.
const FAST = {
  TANDEM_ADMIN_KEY: ADMIN,
  TANDEM_WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8',
  TANDEM_WEBHOOK_DEBOUNCE_MS: '200',
  TANDEM_WEBHOOK_MAX_WAIT_MS: '1000',
  TANDEM_WEBHOOK_POLL_MS: '100'
}

/**
 * A webhook receiver on 127.0.0.1. `answer(n, message)` picks the status of the n-th request
 * (from 0), or 'hold' to never answer it, after `delayMs`. Each request is kept with whether its signature
 * verified; the secret is set once the endpoint exists.
 */
async function startReceiver (answer = () => 200, { delayMs = 0 } = {}) {
  const r = { secret: null, requests: [], held: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const headers = {
        'webhook-id': req.headers['webhook-id'],
        'webhook-timestamp': req.headers['webhook-timestamp'],
        'webhook-signature': req.headers['webhook-signature']
      }
      let payload = null
      let error = null
      try {
        payload = new Webhook(r.secret).verify(body, headers)
      } catch (err) {
        error = String(err)
      }
      const n = r.requests.length
      r.requests.push({ id: headers['webhook-id'], payload, error, raw: { body, headers } })
      const status = answer(n, payload)
      if (status === 'hold') {
        r.held.push(res)
        return
      }
      setTimeout(() => res.writeHead(status).end(), delayMs)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${server.address().port}/hook`
  r.close = () => {
    for (const res of r.held) res.destroy()
    server.closeAllConnections()
    server.close()
  }
  r.verified = (type) => r.requests.filter((q) => q.payload && (!type || q.payload.type === type))
  receivers.push(r)
  return r
}

async function api (server, method, path, body) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

async function addEndpoint (server, receiver, extra) {
  const res = await api(server, 'POST', '/api/webhooks', { url: receiver.url, ...extra })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/=]+$/)
  receiver.secret = res.body.secret
  return res.body
}

const data = freshDataDir('webhooks')
cleanups.push(data.cleanup)
const pg = createPostgresDatabase('interop_webhooks')
if (pg.drop) cleanups.push(pg.drop)

const backends = [
  { name: 'sqlite', env: {} },
  { name: 'postgres', env: pg.url ? { DATABASE_URL: pg.url } : null, skip: pg.skip, error: pg.error }
]

for (const backend of backends) {
  const opts = { timeout: 60000, skip: backend.skip ?? false }

  async function boot (extra = {}) {
    if (backend.error) throw new Error(backend.error)
    // A test that failed left its server running: two instances of one name on one
    // database would both deliver this test's endpoint.
    for (const s of servers) await s.stop()
    const s = await startServer({ dataDir: data.dir, env: { ...FAST, ...backend.env, ...extra } })
    servers.push(s)
    return s
  }

  function open (server, doc) {
    const c = connectClient(server, doc)
    clients.push(c)
    return c
  }

  test(`${backend.name}: every event is delivered, signed as Standard Webhooks says`, opts, async () => {
    const server = await boot()
    const receiver = await startReceiver()
    const prefix = uniqueDocName('whok')
    await addEndpoint(server, receiver, { prefix })
    const doc = `${prefix}-doc`
    const writer = open(server, doc)
    await waitSynced(writer)
    // The name shown in presence is who the log records as each change's author.
    writer.awareness.setLocalStateField('user', { name: 'Writer' })
    writer.text.insert(0, 'Hello, ')
    writer.text.insert(7, 'webhooks')
    const describe = () => JSON.stringify(receiver.requests, null, 1) + '\n' + server.logs()
    const changed = await waitFor('document.changed with the whole text', () =>
      receiver.verified('document.changed').find((q) => q.payload.data.text === 'Hello, webhooks'),
    { timeoutMs: 20000, describe })
    assert.equal(changed.payload.data.document, doc)
    assert.ok(changed.payload.data.positions.upto > changed.payload.data.positions.after)
    assert.equal(changed.payload.data.length, 15)
    assert.deepEqual(changed.payload.data.authors, ['Writer'])
    assert.equal(changed.payload.data.format, 'text')
    assert.ok(receiver.verified('document.created').some((q) => q.payload.data.document === doc))

    const version = await api(server, 'POST', `/api/documents/${doc}/versions`, { label: 'first draft' })
    assert.equal(version.status, 201, JSON.stringify(version.body))
    const v = await waitFor('version.created', () => receiver.verified('version.created')[0], { describe })
    assert.equal(v.payload.data.label, 'first draft')

    writer.destroy()
    assert.equal((await api(server, 'DELETE', `/api/documents/${doc}`)).status, 204)
    await waitFor('document.deleted', () => receiver.verified('document.deleted')[0], { describe })

    // Every request verified, and they came in the order things happened.
    assert.deepEqual(receiver.requests.filter((q) => q.error), [])
    const order = receiver.requests.map((q) => q.payload.type)
    assert.equal(order[0], 'document.created')
    assert.equal(order.at(-1), 'document.deleted')
    assert.ok(order.indexOf('version.created') > order.indexOf('document.changed'), order.join())

    // The attempts are recorded, and counted in the metrics.
    const endpoints = await api(server, 'GET', '/api/webhooks')
    const mine = endpoints.body.webhooks.find((e) => e.prefix === prefix)
    assert.equal(mine.secret, undefined, 'the secret is shown only at creation')
    // The receiver has a request before the server has its answer and records the attempt.
    const shown = await waitFor('the document.deleted attempt recorded', async () => {
      const res = await api(server, 'GET', `/api/webhooks/${mine.id}`)
      return res.body.attempts.some((a) => a.event === 'document.deleted') && res
    }, { describe })
    assert.ok(shown.body.attempts.length >= 4, JSON.stringify(shown.body.attempts))
    assert.ok(shown.body.attempts.every((a) => a.outcome === 'delivered' && a.status === 200))
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /tandem_webhook_deliveries_total\{outcome="delivered"\} [1-9]/)
    await server.stop()
  })

  test(`${backend.name}: 500 twice then 200 delivers once more with the same webhook-id`, opts, async () => {
    const server = await boot()
    const receiver = await startReceiver((n) => (n < 2 ? 500 : 200))
    const prefix = uniqueDocName('whretry')
    const endpoint = await addEndpoint(server, receiver, { prefix, events: ['document.changed'] })
    const writer = open(server, `${prefix}-doc`)
    await waitSynced(writer)
    writer.text.insert(0, 'retry me')
    await waitFor('three attempts', () => receiver.requests.length >= 3, {
      describe: () => JSON.stringify(receiver.requests) + '\n' + server.logs()
    })
    const ids = receiver.requests.slice(0, 3).map((q) => q.id)
    assert.equal(new Set(ids).size, 1, `one webhook-id on every retry: ${ids}`)
    assert.ok(receiver.requests.slice(0, 3).every((q) => q.payload?.data.text === 'retry me'))
    const shown = await waitFor('the attempts recorded', async () => {
      const res = await api(server, 'GET', `/api/webhooks/${endpoint.id}`)
      return res.body.attempts.length >= 3 && res.body
    })
    assert.deepEqual(shown.attempts.slice(0, 3).map((a) => [a.attempt, a.outcome, a.status]).reverse(),
      [[1, 'failed', 500], [2, 'failed', 500], [3, 'delivered', 200]])
    await server.stop()
  })

  test(`${backend.name}: the change feed brings a change out within the debounce`, opts, async () => {
    const server = await boot()
    const receiver = await startReceiver()
    const prefix = uniqueDocName('whfeed')
    await addEndpoint(server, receiver, { prefix, events: ['document.changed'] })
    const writer = open(server, `${prefix}-doc`)
    await waitSynced(writer)
    // The deliverer compared every document with its cursor when it started; the next such
    // comparison is 5 s later. Sooner than that, only the feed can tell it of this change.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const typedAt = Date.now()
    writer.text.insert(0, 'fresh')
    await waitFor('document.changed', () => receiver.verified('document.changed')[0], {
      timeoutMs: 2500, describe: () => server.logs()
    })
    assert.ok(Date.now() - typedAt < 2500)
    await server.stop()
  })

  test(`${backend.name}: past the retry window a message is given up and the next one goes out`, opts, async () => {
    const server = await boot({ TANDEM_WEBHOOK_RETRY_SECS: '1' })
    const receiver = await startReceiver((n, message) => (message?.data.text === 'lost' ? 500 : 200))
    const prefix = uniqueDocName('whexpire')
    const endpoint = await addEndpoint(server, receiver, { prefix, events: ['document.changed'] })
    const writer = open(server, `${prefix}-doc`)
    await waitSynced(writer)
    writer.text.insert(0, 'lost')
    const describe = () => JSON.stringify(receiver.requests) + '\n' + server.logs()
    const shown = await waitFor('the message given up', async () => {
      const res = await api(server, 'GET', `/api/webhooks/${endpoint.id}`)
      return res.body.attempts.some((a) => a.outcome === 'expired') && res.body
    }, { describe })
    assert.ok(shown.attempts.every((a) => a.status === 500))
    assert.equal(shown.enabled, true)
    writer.text.insert(4, ' and found')
    await waitFor('the next change delivered', () =>
      receiver.verified('document.changed').some((q) => q.payload.data.text === 'lost and found'), { describe })
    await server.stop()
  })

  test(`${backend.name}: 410 Gone disables the endpoint`, opts, async () => {
    const server = await boot()
    const receiver = await startReceiver(() => 410)
    const prefix = uniqueDocName('whgone')
    const endpoint = await addEndpoint(server, receiver, { prefix })
    const writer = open(server, `${prefix}-doc`)
    await waitSynced(writer)
    writer.text.insert(0, 'anyone there?')
    const shown = await waitFor('the endpoint disabled', async () => {
      const res = await api(server, 'GET', `/api/webhooks/${endpoint.id}`)
      return res.body.enabled === false && res.body
    }, { describe: () => JSON.stringify(receiver.requests) + '\n' + server.logs() })
    assert.match(shown.disabled_reason, /410/)
    assert.equal(shown.attempts[0].outcome, 'gone')
    const seen = receiver.requests.length
    writer.text.insert(0, 'more ')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.equal(receiver.requests.length, seen, 'nothing is sent to a disabled endpoint')
    await server.stop()
  })

  test(`${backend.name}: a delivery cut by kill -9 is made after the restart`, opts, async () => {
    let server = await boot()
    // The first request is never answered: the server dies waiting for it.
    const receiver = await startReceiver((n) => (n === 0 ? 'hold' : 200))
    const prefix = uniqueDocName('whcrash')
    await addEndpoint(server, receiver, { prefix, events: ['document.changed'] })
    const writer = open(server, `${prefix}-doc`)
    await waitSynced(writer)
    writer.text.insert(0, 'survives a crash')
    await waitFor('the first attempt in flight', () => receiver.held.length === 1, {
      describe: () => server.logs()
    })
    writer.destroy()
    await server.kill()
    server = await boot()
    await waitFor('the delivery after the restart', () => receiver.requests.length >= 2, {
      timeoutMs: 15000, describe: () => server.logs()
    })
    const [first, second] = receiver.requests
    assert.equal(second.id, first.id, 'the same message, with the same webhook-id')
    assert.equal(second.error, null)
    assert.equal(second.payload.data.text, 'survives a crash')
    await server.stop()
  })

  test(`${backend.name}: URLs to internal addresses are refused at creation`, opts, async () => {
    const server = await boot()
    for (const [url, kind] of [
      ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
      ['http://10.0.0.1/hook', 'private'],
      ['http://[::ffff:10.0.0.1]/hook', 'private'],
      ['http://[fd00:ec2::254]/', 'cloud metadata']
    ]) {
      const res = await api(server, 'POST', '/api/webhooks', { url })
      assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`)
      assert.ok(res.body.error.includes(kind), res.body.error)
    }
    const bad = await api(server, 'POST', '/api/webhooks', { url: 'http://127.0.0.1:9/', events: ['document.typed'] })
    assert.equal(bad.status, 400)
    assert.match(bad.body.error, /unknown event/)
    const anon = await fetch(`${server.url}/api/webhooks`)
    assert.equal(anon.status, 403)
    await server.stop()
  })
}

const clusterPg = pg.url ? createPostgresDatabase('interop_webhooks_cluster') : pg
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

test('tandem webhooks add, list, test, rotate and remove talk to the server with the admin key', { timeout: 60000 }, async () => {
  const server = await startServer({ dataDir: data.dir, env: FAST })
  servers.push(server)
  const receiver = await startReceiver()
  // Asynchronous: the receiver in this process must answer while the command runs.
  const cli = (args, env = { TANDEM_ADMIN_KEY: ADMIN }) => new Promise((resolve) => {
    execFile(serverBin, ['webhooks', '--url', server.url, ...args], {
      encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH, ...env }
    }, (err, stdout, stderr) => resolve({ status: err ? (err.code ?? 1) : 0, stdout, stderr }))
  })
  const prefix = uniqueDocName('whcli')
  const added = await cli(['add', receiver.url, '--prefix', prefix, '--events', 'document.created,document.deleted'])
  assert.equal(added.status, 0, added.stderr)
  const endpoint = JSON.parse(added.stdout)
  assert.deepEqual(endpoint.events, ['document.created', 'document.deleted'])
  receiver.secret = endpoint.secret

  const listed = await cli(['list'])
  assert.equal(listed.status, 0, listed.stderr)
  assert.ok(JSON.parse(listed.stdout).webhooks.some((e) => e.id === endpoint.id && e.prefix === prefix))

  const tested = await cli(['test', String(endpoint.id)])
  assert.equal(tested.status, 0, tested.stderr)
  assert.equal(JSON.parse(tested.stdout).status, 200)
  const ping = receiver.verified('webhook.test')[0]
  assert.ok(ping, JSON.stringify(receiver.requests))
  assert.equal(ping.payload.data.endpoint, endpoint.id)

  // A rotation: the new secret signs, and for a while the old one too (two signatures).
  const rotated = await cli(['rotate', String(endpoint.id), '--keep-old-secs', '60'])
  assert.equal(rotated.status, 0, rotated.stderr)
  const newSecret = JSON.parse(rotated.stdout).secret
  assert.notEqual(newSecret, endpoint.secret)
  assert.equal((await cli(['test', String(endpoint.id)])).status, 0)
  const both = receiver.requests.at(-1).raw
  assert.equal(both.headers['webhook-signature'].split(' ').length, 2)
  assert.equal(new Webhook(endpoint.secret).verify(both.body, both.headers).type, 'webhook.test')
  assert.equal(new Webhook(newSecret).verify(both.body, both.headers).type, 'webhook.test')
  receiver.secret = newSecret
  const quick = await cli(['rotate', String(endpoint.id), '--keep-old-secs', '0'])
  assert.equal(quick.status, 0, quick.stderr)
  assert.equal((await cli(['test', String(endpoint.id)])).status, 0)
  const one = receiver.requests.at(-1).raw
  assert.equal(one.headers['webhook-signature'].split(' ').length, 1, 'the old key no longer signs')
  assert.throws(() => new Webhook(newSecret).verify(one.body, one.headers))
  assert.equal(new Webhook(JSON.parse(quick.stdout).secret).verify(one.body, one.headers).type, 'webhook.test')

  const refused = await cli(['add', 'http://169.254.169.254/'])
  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr, /400 Bad Request: .*169\.254\.169\.254.*cloud metadata/)
  const noKey = await cli(['list'], {})
  assert.notEqual(noKey.status, 0)
  assert.match(noKey.stderr, /admin/i)

  const removed = await cli(['remove', String(endpoint.id)])
  assert.equal(removed.status, 0, removed.stderr)
  assert.match(removed.stdout, new RegExp(`removed endpoint ${endpoint.id}`))
  assert.ok(!JSON.parse((await cli(['list'])).stdout).webhooks.some((e) => e.id === endpoint.id))
  assert.notEqual((await cli(['remove', String(endpoint.id)])).status, 0, 'removing it twice is an error')
  await server.stop()
})
