// Change feed latency: commit to SSE event, with many readers per document.
// node bench/feed_latency.mjs [readers] [docs] [seconds]   (TANDEM_BIN: the server binary)
// Each document gets one character a second... every 100 ms through POST .../updates (one
// commit each); every reader of it records when the event with that text length arrives.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(path.resolve('tests/e2e/package.json'))
const Y = require('yjs')
const [readers = 1000, docs = 100, seconds = 20] = process.argv.slice(2).map(Number)
const bin = process.env.TANDEM_BIN || 'target/debug/tandem'
const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-feedbench-'))
const server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
  '--max-connections-per-ip', '100000', '--max-connections', '100000'], { stdio: ['ignore', 'pipe', 'inherit'] })
const url = await new Promise((resolve) => {
  let out = ''
  server.stdout.on('data', (d) => { out += d; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) resolve(m[1].replace(/\/$/, '')) })
})
const sentAt = new Map() // `${doc}:${length}` -> ms
const latencies = []
let events = 0
let duplicates = 0
let unchanged = 0
async function reader (doc) {
  const res = await fetch(`${url}/api/documents/${doc}/changes`, { headers: { Accept: 'text/event-stream' } })
  const decoder = new TextDecoder()
  let buf = ''
  const ids = new Set()
  let lastLength = -1
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true })
    let end
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end); buf = buf.slice(end + 2)
      const data = block.split('\n').find((l) => l.startsWith('data:'))
      if (!data || !block.includes('event: change')) continue
      const id = block.split('\n').find((l) => l.startsWith('id:'))
      if (ids.has(id)) duplicates++
      ids.add(id)
      const length = JSON.parse(data.slice(5)).length
      if (length === lastLength) { unchanged++; continue }
      lastLength = length
      const t = sentAt.get(`${doc}:${length}`)
      if (t !== undefined) { latencies.push(performance.now() - t); events++ }
    }
  }
}
for (let i = 0; i < readers; i++) reader(`bench-${i % docs}`).catch(() => {})
await new Promise((r) => setTimeout(r, 3000))
const ydocs = Array.from({ length: docs }, () => new Y.Doc())
const commits = []
const until = performance.now() + seconds * 1000
let n = 0
while (performance.now() < until) {
  const round = []
  for (let d = 0; d < docs; d++) {
    const ydoc = ydocs[d]
    const text = ydoc.getText('content')
    let update
    ydoc.once('update', (u) => { update = u })
    text.insert(text.length, 'x')
    const key = `bench-${d}:${text.length}`
    const t0 = performance.now()
    sentAt.set(key, t0)
    round.push(fetch(`${url}/api/documents/bench-${d}/updates`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: update })
      .then(() => commits.push(performance.now() - t0)))
    n++
  }
  await Promise.all(round)
  await new Promise((r) => setTimeout(r, 100))
}
await new Promise((r) => setTimeout(r, 2000))
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]?.toFixed(1) }
const rss = (await import('node:fs')).readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]
console.log(JSON.stringify({ readers, docs, updates: n, events, duplicates, unchanged_length_events: unchanged, expected: n * readers / docs,
  commit_to_event_ms: { p50: pct(latencies, 0.5), p99: pct(latencies, 0.99) },
  post_ms: { p50: pct(commits, 0.5), p99: pct(commits, 0.99) }, server_rss_kib: Number(rss) }))
server.kill('SIGKILL')
rmSync(dataDir, { recursive: true, force: true })
process.exit(0)
