// Change feed latency and the typing side's cost, in one server, interleaved.
// node bench/feed_latency.mjs            (bench/feed.sh runs it; settings from the environment)
//   FEED_READERS (1000) SSE readers, FEED_READERS / FEED_DOCS on each of FEED_DOCS (100)
//   documents; FEED_SECONDS (20) of typing per phase; FEED_ROUNDS (3) rounds of "with readers"
//   then "without readers"; TANDEM_BIN (target/release/tandem).
// Memory per reader is the first round's (on a server that never had readers before).
// Typing: every 100 ms each document gets one character through POST .../updates (one commit
// each, answered after the commit). Commit to event: from sending that POST to the reader's
// receipt of the event whose text length matches. Memory per reader: server RSS once the
// readers are connected and idle, minus RSS just before they connect, divided by their count.
// Prints one JSON object on stdout.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(path.resolve('tests/e2e/package.json'))
const Y = require('yjs')
const env = (k, d) => Number(process.env[k] ?? d)
const readers = env('FEED_READERS', 1000)
const docs = env('FEED_DOCS', 100)
const seconds = env('FEED_SECONDS', 20)
const rounds = env('FEED_ROUNDS', 3)
const bin = process.env.TANDEM_BIN || 'target/release/tandem'
const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-feedbench-'))
// Every client runs here from 127.0.0.1: lift the limits per client address (SECURITY.md).
const server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
  '--max-connections-per-ip', '100000',
  '--max-documents-per-ip', '100000', '--max-updates-per-client-per-sec', '0'],
{ stdio: ['ignore', 'pipe', 'inherit'] })
server.on('exit', (code) => { if (code !== null && !stopping) { console.error(`tandem exited with ${code}`); process.exit(1) } })
let stopping = false
const url = await new Promise((resolve) => {
  let out = ''
  server.stdout.on('data', (d) => { out += d; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) resolve(m[1].replace(/\/$/, '')) })
})
const rssKiB = () => Number(readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1])
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return Number(s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1)) }

const ydocs = Array.from({ length: docs }, () => new Y.Doc())
let sentAt = new Map() // `${doc}:${length}` -> ms, for the current phase

// One SSE reader; resolves once the response headers are in, records latencies until aborted.
async function openReader (doc, signal, stats) {
  const res = await fetch(`${url}/api/documents/${doc}/changes`, { headers: { Accept: 'text/event-stream' }, signal })
  if (res.status !== 200) throw new Error(`feed ${doc}: HTTP ${res.status}`)
  const consume = async () => {
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
        if (data && block.includes('event: snapshot')) stats.snapshots++
        if (!data || !block.includes('event: change')) continue
        const id = block.split('\n').find((l) => l.startsWith('id:'))
        if (ids.has(id)) stats.duplicates++
        ids.add(id)
        stats.changes++
        const length = JSON.parse(data.slice(5)).length
        if (length === lastLength) { stats.same_length++; continue }
        lastLength = length
        const t = sentAt.get(`${doc}:${length}`)
        if (t !== undefined) { stats.latencies.push(performance.now() - t); stats.events++ }
      }
    }
  }
  // A stream that ends before the abort was closed by the server (e.g. its buffer overflowed):
  // the events after that are missing from this reader's count, and said so.
  consume().then(() => { if (!signal.aborted) stats.closed_early++ }, () => { if (!signal.aborted) stats.closed_early++ })
}

async function type (ms) {
  sentAt = new Map()
  const posts = []
  let updates = 0
  let failed = 0
  const until = performance.now() + ms
  while (performance.now() < until) {
    const started = performance.now()
    const round = []
    for (let d = 0; d < docs; d++) {
      const text = ydocs[d].getText('content')
      let update
      ydocs[d].once('update', (u) => { update = u })
      text.insert(text.length, 'x')
      const t0 = performance.now()
      sentAt.set(`bench-${d}:${text.length}`, t0)
      round.push(fetch(`${url}/api/documents/bench-${d}/updates`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: update })
        .then(async (r) => { await r.arrayBuffer(); if (r.ok) posts.push(performance.now() - t0); else failed++ }, () => { failed++ }))
      updates++
    }
    await Promise.all(round)
    await sleep(Math.max(0, 100 - (performance.now() - started)))
  }
  return { updates, failed, posts }
}

const runs = []
// The documents exist before the first phase, so neither phase pays for creating them.
await type(500)
for (let r = 0; r < rounds; r++) {
  for (const withReaders of [true, false]) {
    const run = { round: r + 1, readers: withReaders ? readers : 0 }
    let abort
    const stats = { latencies: [], events: 0, duplicates: 0, closed_early: 0, changes: 0, same_length: 0, snapshots: 0 }
    if (withReaders) {
      await sleep(1000)
      const before = rssKiB()
      abort = new AbortController()
      const opened = await Promise.allSettled(Array.from({ length: readers }, (_, i) => openReader(`bench-${i % docs}`, abort.signal, stats)))
      run.readers_refused = opened.filter((o) => o.status === 'rejected').length
      await sleep(1000)
      run.rss_kib_before_readers = before
      run.rss_kib_with_readers = rssKiB()
      run.memory_per_reader_kib = Number(((run.rss_kib_with_readers - before) / readers).toFixed(1))
    }
    const t = await type(seconds * 1000)
    // The last events: up to 3 s more, so that late ones count in the p99 rather than vanish.
    const settle = performance.now() + (withReaders ? 3000 : 1000)
    while (performance.now() < settle && (!withReaders || stats.events < t.updates * readers / docs)) await sleep(50)
    run.updates = t.updates
    run.posts_failed = t.failed
    run.post_ms = { p50: pct(t.posts, 0.5), p99: pct(t.posts, 0.99) }
    if (withReaders) {
      run.events = stats.events
      run.expected_events = t.updates * readers / docs
      run.duplicates = stats.duplicates
      run.readers_closed_early = stats.closed_early
      run.change_events = stats.changes
      run.same_length_events = stats.same_length
      run.snapshot_events = stats.snapshots
      run.commit_to_event_ms = { p50: pct(stats.latencies, 0.5), p99: pct(stats.latencies, 0.99) }
      abort.abort()
    }
    run.server_rss_kib = rssKiB()
    runs.push(run)
    console.error(JSON.stringify(run))
  }
}
const summary = (xs) => { const s = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b); return s.length ? { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] } : null }
const w = runs.filter((r) => r.readers > 0)
const wo = runs.filter((r) => r.readers === 0)
console.log(JSON.stringify({
  readers, docs, seconds, rounds, bin,
  with_readers: {
    commit_to_event_p50_ms: summary(w.map((r) => r.commit_to_event_ms.p50)),
    commit_to_event_p99_ms: summary(w.map((r) => r.commit_to_event_ms.p99)),
    post_p50_ms: summary(w.map((r) => r.post_ms.p50)),
    post_p99_ms: summary(w.map((r) => r.post_ms.p99)),
    // Only the first round's: freed memory stays in the process, and later rounds' readers reuse it.
    memory_per_reader_kib: w[0]?.memory_per_reader_kib ?? null,
    events: w.reduce((a, r) => a + r.events, 0),
    expected_events: w.reduce((a, r) => a + r.expected_events, 0),
    duplicates: w.reduce((a, r) => a + r.duplicates, 0),
    readers_refused: w.reduce((a, r) => a + r.readers_refused, 0),
    readers_closed_early: w.reduce((a, r) => a + r.readers_closed_early, 0),
    change_events: w.reduce((a, r) => a + r.change_events, 0),
    same_length_events: w.reduce((a, r) => a + r.same_length_events, 0),
    snapshot_events: w.reduce((a, r) => a + r.snapshot_events, 0)
  },
  without_readers: {
    post_p50_ms: summary(wo.map((r) => r.post_ms.p50)),
    post_p99_ms: summary(wo.map((r) => r.post_ms.p99))
  },
  posts_failed: runs.reduce((a, r) => a + r.posts_failed, 0),
  runs
}))
stopping = true
server.kill('SIGKILL')
rmSync(dataDir, { recursive: true, force: true })
process.exit(0)
