// Raw frames against Tandem's /hocuspocus endpoint, where no published provider would send
// them: malformed and unknown messages, frames before the token, caps on held frames and on
// documents per socket, invalid names, a socket that stops reading, and a burst of
// acknowledgements into a small queue.

import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'

import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

import { uniqueDocName, docPath, Y } from '../lib/harness.mjs'
import {
  V4, cleanups, runCleanups, waitFor, boot, hpUrl, openProvider, settled, serverText, metric, parse
} from '../lib/hocuspocus.mjs'

afterEach(runCleanups)

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
