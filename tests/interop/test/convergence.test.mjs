// Four real y-websocket clients edit one document at random, concurrently, while some of them
// drop off and come back; all of them, a late joiner and the HTTP text endpoint must end up
// with the same text.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, mulberry32, randInt,
  uniqueDocName, httpGet, httpGetBytes, docPath, sleep, Y
} from '../lib/harness.mjs'

// INTEROP_SEED replays a failing run; the default keeps CI deterministic in what it types.
const SEED = Number(process.env.INTEROP_SEED ?? 0x7a3d1)
// Rounds of editing; each round is a small burst of edits, then a short pause so messages flow.
const ROUNDS = 150
// ASCII plus characters that are 2 and 3 bytes in UTF-8 (but one UTF-16 unit each), so a server
// that mixes byte and UTF-16 offsets shows up. No astral characters: a random delete could
// split a surrogate pair, which is a client-side concern, not the server's.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz     \néßü中文字'

let server
let data
const clients = []

before(async () => {
  data = freshDataDir('convergence')
  server = await startServer({ dataDir: data.dir })
})

after(async () => {
  for (const c of clients) c.destroy()
  if (server) await server.stop()
  data?.cleanup()
})

function randomString (rand, len) {
  let s = ''
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]
  return s
}

/** One random edit on a client's Y.Text: mostly inserts so the text grows. */
function randomEdit (rand, client) {
  const text = client.text
  const len = text.length
  if (len > 0 && rand() < 0.35) {
    const pos = randInt(rand, 0, len - 1)
    const count = Math.min(randInt(rand, 1, 4), len - pos)
    text.delete(pos, count)
  } else {
    const pos = randInt(rand, 0, len)
    text.insert(pos, randomString(rand, randInt(rand, 1, 6)))
  }
}

function describeTexts (list) {
  return list
    .map((c, i) => `client ${i}: len=${c.text.length} synced=${c.provider.synced} ` +
      `connected=${c.provider.wsconnected} text=${JSON.stringify(c.toString().slice(0, 80))}...`)
    .join('\n') + `\nserver log tail:\n${server.logs()}`
}

test(`4 clients editing at random converge (seed ${SEED})`, { timeout: 90000 }, async () => {
  const rand = mulberry32(SEED)
  const doc = uniqueDocName('converge')
  const editors = []
  for (let i = 0; i < 4; i++) {
    const c = connectClient(server, doc)
    clients.push(c)
    editors.push(c)
  }
  await Promise.all(editors.map((c, i) => waitSynced(c, 15000, `initial sync of client ${i}`)))

  // Disconnect windows (in rounds): client 2 drops early, client 3 later; both keep typing
  // offline (at least one edit each round while cut off), and what they typed must reach
  // everyone after they reconnect. An outage starts once the client reports the disconnect.
  const outages = [
    { client: 2, from: 25, to: 60 },
    { client: 3, from: 75, to: 100 }
  ]
  for (let round = 0; round < ROUNDS; round++) {
    const offline = []
    for (const o of outages) {
      const c = editors[o.client]
      if (round === o.from) {
        const down = new Promise((resolve) => {
          const onStatus = (e) => { if (e.status === 'disconnected') { c.provider.off('status', onStatus); resolve() } }
          c.provider.on('status', onStatus)
        })
        c.provider.disconnect()
        await down
      }
      if (round === o.to) c.provider.connect()
      if (round >= o.from && round < o.to) offline.push(c)
    }
    const burst = randInt(rand, 1, 3)
    const chosen = offline.concat(Array.from({ length: burst }, () => editors[randInt(rand, 0, editors.length - 1)]))
    for (const c of chosen) randomEdit(rand, c)
    await sleep(randInt(rand, 5, 25)) // pacing, so edits interleave with the traffic
  }

  await waitFor('all 4 clients to converge to the same text', () => {
    if (!editors.every((c) => c.provider.synced)) return false
    const first = editors[0].toString()
    return editors.every((c) => c.toString() === first)
  }, { timeoutMs: 30000, intervalMs: 50, describe: () => describeTexts(editors) })

  const expected = editors[0].toString()
  assert.ok(expected.length > 0, 'converged text should not be empty')

  // A client that joins afterwards gets the same text from the server alone.
  const late = connectClient(server, doc)
  clients.push(late)
  await waitSynced(late, 15000, 'late client sync')
  await waitFor('late client to receive the full text', () => late.toString() === expected, {
    timeoutMs: 10000, describe: () => describeTexts([late, editors[0]])
  })

  // The HTTP API reports the same text (positions and characters decoded correctly).
  const res = await waitFor('GET /api/documents/{doc}/text to match', async () => {
    const r = await httpGet(`${server.url}/api/documents/${docPath(doc)}/text`)
    return r.status === 200 && r.body === expected ? r : false
  }, { timeoutMs: 10000, describe: () => `expected ${JSON.stringify(expected.slice(0, 120))}...\n${server.logs()}` })
  assert.match(res.headers.get('content-type') || '', /^text\/plain/)

  // ... and the full state from the HTTP API rebuilds the same text in a plain Y.Doc.
  const state = await httpGetBytes(`${server.url}/api/documents/${docPath(doc)}/state`)
  assert.equal(state.status, 200)
  const rebuilt = new Y.Doc()
  Y.applyUpdate(rebuilt, state.body)
  assert.equal(rebuilt.getText('content').toString(), expected)
  rebuilt.destroy()
})
