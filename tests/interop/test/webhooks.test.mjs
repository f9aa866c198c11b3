// Webhooks against a real receiver: an HTTP server started here that checks every request's
// signature with the published `standardwebhooks` package (not Tandem's code). Delivered and
// verified; 500 twice then 200 (same webhook-id each time); 410 (endpoint disabled); the
// server killed with -9 while a delivery is in flight (delivered after the restart, same id);
// internal addresses refused. On SQLite, and on PostgreSQL when TANDEM_TEST_PG_URL is set.
// The cluster case is in webhooks-cluster.test.mjs, the `tandem webhooks` command in
// webhooks-cli.test.mjs.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName,
  postgresDatabase as createPostgresDatabase
} from '../lib/harness.mjs'
import {
  FAST, cleanups, servers, clients, releaseAll, startReceiver, api, addEndpoint
} from '../lib/webhooks.mjs'

after(releaseAll)

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
