// Documents are separate rooms: edits and presence in one never show up in another. Also
// checks that an update posted over HTTP reaches connected WebSocket clients of that doc only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName, httpGet,
  docPath, Y
} from '../lib/harness.mjs'

let server
let data
const clients = []

before(async () => {
  data = freshDataDir('isolation')
  server = await startServer({ dataDir: data.dir })
})

after(async () => {
  for (const c of clients) c.destroy()
  if (server) await server.stop()
  data?.cleanup()
})

function open (doc) {
  const c = connectClient(server, doc)
  clients.push(c)
  return c
}

test('two documents stay isolated', { timeout: 30000 }, async () => {
  const docA = uniqueDocName('iso-a')
  const docB = uniqueDocName('iso-b')
  const a1 = open(docA)
  const a2 = open(docA)
  const b1 = open(docB)
  const b2 = open(docB)
  await Promise.all([a1, a2, b1, b2].map((c) => waitSynced(c)))

  a1.awareness.setLocalStateField('user', { name: 'in-a', color: '#f00', colorLight: '#f003' })
  a1.text.insert(0, 'only in A')
  b1.text.insert(0, 'only in B')

  await waitFor('A peers to converge', () => a2.toString() === 'only in A', {
    timeoutMs: 10000, describe: () => `a2=${JSON.stringify(a2.toString())}\n${server.logs()}`
  })
  await waitFor('B peers to converge', () => b2.toString() === 'only in B', {
    timeoutMs: 10000, describe: () => `b2=${JSON.stringify(b2.toString())}\n${server.logs()}`
  })
  await waitFor('a2 to see in-a presence', () => a2.awareness.getStates().has(a1.ydoc.clientID), { timeoutMs: 10000 })

  // Instead of waiting for a misrouted message that may never come: a marker sent in A after
  // everything else shows that room A has sent out all of it, and markers sent through room B
  // afterwards arrive behind anything misrouted into B's connections.
  a1.text.insert(a1.text.length, ' [a done]')
  await waitFor('the marker in A', () => a2.toString() === 'only in A [a done]', {
    timeoutMs: 10000, describe: () => `a2=${JSON.stringify(a2.toString())}\n${server.logs()}`
  })
  b1.text.insert(b1.text.length, ' [b1]')
  b2.text.insert(0, '[b2] ')
  const expectedB = '[b2] only in B [b1]'
  await waitFor('both markers in B', () => b1.toString() === expectedB && b2.toString() === expectedB, {
    timeoutMs: 10000, describe: () => `b1=${JSON.stringify(b1.toString())} b2=${JSON.stringify(b2.toString())}`
  })
  assert.equal(a1.toString(), 'only in A [a done]')
  for (const b of [b1, b2]) {
    assert.equal(b.awareness.getStates().has(a1.ydoc.clientID), false, 'presence from doc A leaked into doc B')
  }

  const textA = await httpGet(`${server.url}/api/documents/${docPath(docA)}/text`)
  const textB = await httpGet(`${server.url}/api/documents/${docPath(docB)}/text`)
  assert.equal(textA.status, 200)
  assert.equal(textA.body, 'only in A [a done]')
  assert.equal(textB.status, 200)
  assert.equal(textB.body, expectedB)
})

test('an update posted over HTTP reaches the WebSocket clients of that document only', { timeout: 30000 }, async () => {
  const docA = uniqueDocName('http-a')
  const docB = uniqueDocName('http-b')
  const a = open(docA)
  const b = open(docB)
  await Promise.all([waitSynced(a), waitSynced(b)])

  // Build the update with an independent Y.Doc, as an HTTP-only integration would.
  const src = new Y.Doc()
  src.getText('content').insert(0, 'from HTTP')
  const update = Y.encodeStateAsUpdate(src)
  src.destroy()

  const res = await fetch(`${server.url}/api/documents/${docPath(docA)}/updates`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: update,
    signal: AbortSignal.timeout(10000)
  })
  assert.equal(res.status, 204, `POST /updates answered ${res.status}: ${await res.text()}`)

  await waitFor('client of doc A to receive the HTTP update', () => a.toString() === 'from HTTP', {
    timeoutMs: 10000, describe: () => `a=${JSON.stringify(a.toString())}\n${server.logs()}`
  })
  // a marker posted to B after A's update went out arrives behind anything misrouted to B
  const marker = new Y.Doc()
  marker.getText('content').insert(0, 'marker for B')
  const posted = await fetch(`${server.url}/api/documents/${docPath(docB)}/updates`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Y.encodeStateAsUpdate(marker),
    signal: AbortSignal.timeout(10000)
  })
  marker.destroy()
  assert.equal(posted.status, 204)
  await waitFor('client of doc B to receive its marker', () => b.toString().includes('marker for B'), {
    timeoutMs: 10000, describe: () => `b=${JSON.stringify(b.toString())}\n${server.logs()}`
  })
  assert.equal(b.toString(), 'marker for B')
})
