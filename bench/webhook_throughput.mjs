// Webhook deliveries per second and commit-to-delivery delay, to a local receiver.
// node bench/webhook_throughput.mjs      (bench/feed.sh runs it; settings from the environment)
//   WEBHOOK_DOCS (1000) documents, one change each; WEBHOOK_DEBOUNCE_MS (2000): the server's
//   --webhook-debounce-ms; WEBHOOK_CONCURRENCY (4): --webhook-concurrency; WEBHOOK_TIMEOUT_S
//   (60): longest wait for the deliveries; TANDEM_BIN (target/release/tandem).
// One fresh server (SQLite). First a baseline burst: one POST .../updates to each of
// WEBHOOK_DOCS documents (16 at once) with no endpoint. Then one endpoint for document.changed
// on the prefix "wh-", pointing at a Node receiver on 127.0.0.1 that verifies every signature
// with the npm standardwebhooks library and answers 200, and the same burst on "wh-" documents.
// Deliveries per second: document.changed messages received / (last receipt - first receipt).
// Delay: a document's receipt minus the answer to its POST (the commit), so it holds the
// debounce (quiet time), the deliverer's poll (--webhook-poll-ms, 500) and the queue.
// Prints one JSON object on stdout.
import { spawn } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(path.resolve('tests/e2e/package.json'))
const Y = require('yjs')
const { Webhook } = createRequire(path.resolve('tests/interop/package.json'))('standardwebhooks')
const env = (k, d) => Number(process.env[k] ?? d)
const docs = env('WEBHOOK_DOCS', 1000)
const debounce = env('WEBHOOK_DEBOUNCE_MS', 2000)
const concurrency = env('WEBHOOK_CONCURRENCY', 4)
const timeoutMs = env('WEBHOOK_TIMEOUT_S', 60) * 1000
const bin = process.env.TANDEM_BIN || 'target/release/tandem'
const adminKey = 'bench-admin-key-' + Math.random().toString(36).slice(2)
const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-webhookbench-'))
let stopping = false
const server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
  '--admin-key', adminKey, '--webhook-allow-networks', '127.0.0.0/8',
  '--webhook-debounce-ms', String(debounce), '--webhook-concurrency', String(concurrency),
  '--max-connections-per-ip', '100000', '--max-documents-per-ip', '100000',
  '--max-updates-per-client-per-sec', '0'],
{ stdio: ['ignore', 'pipe', 'inherit'] })
server.on('exit', (code) => { if (code !== null && !stopping) { console.error(`tandem exited with ${code}`); process.exit(1) } })
const url = await new Promise((resolve) => {
  let out = ''
  server.stdout.on('data', (d) => { out += d; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) resolve(m[1].replace(/\/$/, '')) })
})
const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return Number(s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1)) }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// The receiver.
let hook = null
const received = new Map() // document -> receipt ms (first document.changed only)
const seenIds = new Set()
let bad = 0
let repeats = 0
let others = 0
const receiver = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const at = performance.now()
    let event
    try { event = hook.verify(Buffer.concat(chunks).toString('utf8'), req.headers) } catch { bad++; res.writeHead(400).end(); return }
    res.writeHead(200).end()
    const id = req.headers['webhook-id']
    if (seenIds.has(id)) { repeats++; return }
    seenIds.add(id)
    if (event.type !== 'document.changed' || received.has(event.data.document)) { others++; return }
    received.set(event.data.document, at)
  })
})
await new Promise((r) => receiver.listen(0, '127.0.0.1', r))
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hook`

// One change to each of `docs` documents named prefix + i, 16 requests at once.
async function burst (prefix) {
  const committed = new Map()
  const posts = []
  let failed = 0
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < docs) {
      const name = `${prefix}${next++}`
      const ydoc = new Y.Doc()
      let update
      ydoc.once('update', (u) => { update = u })
      ydoc.getText('content').insert(0, 'x')
      const t0 = performance.now()
      try {
        const r = await fetch(`${url}/api/documents/${name}/updates`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: update })
        await r.arrayBuffer()
        if (!r.ok) { failed++; continue }
      } catch { failed++; continue }
      const t1 = performance.now()
      posts.push(t1 - t0)
      committed.set(name, t1)
    }
  }))
  return { committed, posts, failed, seconds: (performance.now() - started) / 1000 }
}

const baseline = await burst('base-')
const created = await fetch(`${url}/api/webhooks`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
  body: JSON.stringify({ url: receiverUrl, prefix: 'wh-', events: ['document.changed'] })
})
if (created.status !== 201) { console.error(`POST /api/webhooks: ${created.status} ${await created.text()}`); process.exit(1) }
hook = new Webhook((await created.json()).secret)
const withHook = await burst('wh-')
const deadline = performance.now() + timeoutMs
while (received.size < withHook.committed.size && performance.now() < deadline) await sleep(100)
await sleep(1000) // repeats, if any

const arrivals = [...received.values()].sort((a, b) => a - b)
const delays = [...received].filter(([d]) => withHook.committed.has(d)).map(([d, at]) => at - withHook.committed.get(d))
const span = arrivals.length > 1 ? (arrivals[arrivals.length - 1] - arrivals[0]) / 1000 : null
console.log(JSON.stringify({
  docs, debounce_ms: debounce, concurrency, bin,
  committed: withHook.committed.size,
  delivered: received.size,
  bad_signatures: bad,
  repeats,
  other_messages: others,
  commit_burst_s: Number(withHook.seconds.toFixed(2)),
  delivery_span_s: span && Number(span.toFixed(2)),
  deliveries_per_s: span && Number((received.size / span).toFixed(1)),
  commit_to_delivery_ms: { p50: pct(delays, 0.5), p99: pct(delays, 0.99), max: pct(delays, 1) },
  post_ms_without_endpoint: { p50: pct(baseline.posts, 0.5), p99: pct(baseline.posts, 0.99) },
  post_ms_with_endpoint: { p50: pct(withHook.posts, 0.5), p99: pct(withHook.posts, 0.99) },
  posts_failed: baseline.failed + withHook.failed
}))
stopping = true
server.kill('SIGKILL')
receiver.close()
rmSync(dataDir, { recursive: true, force: true })
process.exit(received.size === withHook.committed.size && bad === 0 ? 0 : 2)
