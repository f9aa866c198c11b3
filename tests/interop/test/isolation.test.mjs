// Documents are separate rooms: edits and presence in one never show up in another. Also
// checks that an update posted over HTTP reaches connected WebSocket clients of that doc only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName, httpGet,
  docPath, sleep, Y
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
  await waitFor('a2 to see in-a presence', () => a2.awareness.getStates().has(a1.ydoc.clientID), { timeoutMs: 5000 })

  // Give any misrouted message time to arrive before asserting that none did.
  await sleep(500)
  assert.equal(a1.toString(), 'only in A')
  assert.equal(b1.toString(), 'only in B')
  assert.equal(b2.toString(), 'only in B')
  for (const b of [b1, b2]) {
    assert.equal(b.awareness.getStates().has(a1.ydoc.clientID), false, 'presence from doc A leaked into doc B')
  }

  const textA = await httpGet(`${server.url}/api/documents/${docPath(docA)}/text`)
  const textB = await httpGet(`${server.url}/api/documents/${docPath(docB)}/text`)
  assert.equal(textA.status, 200)
  assert.equal(textA.body, 'only in A')
  assert.equal(textB.status, 200)
  assert.equal(textB.body, 'only in B')
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
  await sleep(300)
  assert.equal(b.toString(), '')
})
