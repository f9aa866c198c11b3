// `tandem webhooks` (add, list, test, rotate, remove) against a running server and a
// receiver in this process.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { Webhook } from 'standardwebhooks'

import { startServer, freshDataDir, uniqueDocName, serverBin } from '../lib/harness.mjs'
import { ADMIN, FAST, cleanups, servers, releaseAll, startReceiver } from '../lib/webhooks.mjs'

after(releaseAll)

const data = freshDataDir('webhooks-cli')
cleanups.push(data.cleanup)

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
