// Awareness (presence) through the server: a peer's state arrives, and disappears when that
// peer leaves, whether it says goodbye or its socket just dies.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName
} from '../lib/harness.mjs'

let server
let data
const clients = []

before(async () => {
  data = freshDataDir('awareness')
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

function remoteNames (observer) {
  const names = []
  for (const [clientId, state] of observer.awareness.getStates()) {
    if (clientId === observer.ydoc.clientID) continue
    if (state?.user?.name) names.push(state.user.name)
  }
  return names.sort()
}

const user = (name) => ({ name, color: '#30bced', colorLight: '#30bced33' })

/**
 * Resolves with the origin of the change that removes `clientId` from the observer's awareness.
 * A removal the server sent has the observer's provider as origin; the JavaScript awareness
 * removes a state by itself only after 30 s without renewal, with origin 'timeout'. So a test
 * that waits for this event and checks the origin needs no clock: without the server's message
 * the removal still comes, from the wrong origin, and the test fails.
 */
function removalOf (observer, clientId) {
  return new Promise((resolve) => {
    const onChange = ({ removed }, origin) => {
      if (!removed.includes(clientId)) return
      observer.awareness.off('change', onChange)
      resolve(origin === observer.provider ? 'server' : String(origin))
    }
    observer.awareness.on('change', onChange)
  })
}

test('a peer sees another peer\'s awareness state, and its removal after destroy', { timeout: 60000 }, async () => {
  const doc = uniqueDocName('aware')
  const a = open(doc)
  const b = open(doc)
  await Promise.all([waitSynced(a), waitSynced(b)])

  a.awareness.setLocalStateField('user', user('alice'))
  await waitFor('B to see alice', () => remoteNames(b).includes('alice'), {
    timeoutMs: 20000, describe: () => `B sees ${JSON.stringify(remoteNames(b))}\n${server.logs()}`
  })
  const aliceId = a.ydoc.clientID
  assert.deepEqual(b.awareness.getStates().get(aliceId)?.user, user('alice'))

  // Destroy A's provider: its socket closes and B must lose alice's state through a message
  // from the server, not through the timeout the JavaScript awareness applies on its own.
  const removal = removalOf(b, aliceId)
  a.provider.destroy()
  assert.equal(await removal, 'server', 'alice was removed from B by the client-side timeout, not by the server')
  // B stays connected and keeps working.
  assert.equal(b.provider.wsconnected, true)
})

test('a peer whose socket dies without a goodbye is removed by the server', { timeout: 60000 }, async () => {
  const doc = uniqueDocName('aware-crash')
  const a = open(doc)
  const b = open(doc)
  await Promise.all([waitSynced(a), waitSynced(b)])

  a.awareness.setLocalStateField('user', user('carol'))
  await waitFor('B to see carol', () => remoteNames(b).includes('carol'), {
    timeoutMs: 20000, describe: () => `B sees ${JSON.stringify(remoteNames(b))}\n${server.logs()}`
  })
  const carolId = a.ydoc.clientID

  // Cut the TCP connection without a close frame and without the client's own "null state"
  // awareness message (provider.destroy() would send one): only the server can tell B.
  const removal = removalOf(b, carolId)
  const closed = new Promise((resolve) => a.provider.on('status', (e) => { if (e.status === 'disconnected') resolve() }))
  a.provider.ws.terminate()
  await closed
  a.provider.destroy() // the socket is already gone, so this sends nothing; stops reconnecting

  assert.equal(await removal, 'server', 'carol was removed from B by the client-side timeout, not by the server')
})

test('a late joiner receives the awareness states of peers already present', { timeout: 30000 }, async () => {
  const doc = uniqueDocName('aware-late')
  const a = open(doc)
  a.awareness.setLocalStateField('user', user('dave'))
  await waitSynced(a)
  const late = open(doc)
  await waitSynced(late)
  await waitFor('late joiner to see dave', () => remoteNames(late).includes('dave'), {
    timeoutMs: 20000, describe: () => `late joiner sees ${JSON.stringify(remoteNames(late))}\n${server.logs()}`
  })
})
