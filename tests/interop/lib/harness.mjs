// Shared helpers for the interop tests: start/stop the real `tandem` binary, open real
// y-websocket providers against it, wait for conditions with a deadline, and a seeded PRNG.
//
// Everything here is bounded in time so a broken server makes a test fail, never hang.

import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '..', '..', '..')

/** The server binary under test: `TANDEM_BIN`, else the debug build of the workspace. */
export const serverBin = process.env.TANDEM_BIN || path.join(repoRoot, 'target', 'debug', 'tandem')

/** mulberry32: a tiny seeded PRNG, so a failing random run can be replayed with its seed. */
export function mulberry32 (seed) {
  let a = seed >>> 0
  return function next () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Integer in [lo, hi] drawn from `rand`. */
export function randInt (rand, lo, hi) {
  return lo + Math.floor(rand() * (hi - lo + 1))
}

/** A fresh, empty data directory; removed by the returned `cleanup`. */
export function freshDataDir (label = 'data') {
  const dir = mkdtempSync(path.join(tmpdir(), `tandem-interop-${label}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A document name that no other test uses. */
let docCounter = 0
export function uniqueDocName (prefix) {
  docCounter += 1
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${docCounter}`
}

/**
 * Poll `check` until it returns a truthy value or `timeoutMs` passes. On timeout throws an
 * error naming `what`, with `describe()` appended so the failure says what was seen instead.
 */
export async function waitFor (what, check, { timeoutMs = 10000, intervalMs = 25, describe } = {}) {
  const deadline = Date.now() + timeoutMs
  let lastError = null
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      let msg = `timed out after ${timeoutMs} ms waiting for ${what}`
      if (describe) msg += `\n${describe()}`
      if (lastError) msg += `\nlast error: ${lastError.stack || lastError}`
      throw new Error(msg)
    }
    await sleep(intervalMs)
  }
}

/**
 * Environment for the server child: the caller's environment without settings that would
 * point the server elsewhere (a developer's DATABASE_URL or secret must not leak into tests).
 */
function serverEnv (extra) {
  const env = { ...process.env }
  for (const key of Object.keys(env)) {
    if (key === 'DATABASE_URL' || key.startsWith('TANDEM_')) delete env[key]
  }
  return { ...env, ...extra }
}

/**
 * Start `tandem serve` on an ephemeral port with the given data dir. Resolves once it printed
 * `listening on http://HOST:PORT`. The returned handle has `url`, `wsUrl`, `stop()`, `kill()`
 * and `logs()` (recent output, for failure messages).
 */
export async function startServer ({ dataDir, args = [], env = {}, startTimeoutMs = 30000 } = {}) {
  if (!existsSync(serverBin)) {
    throw new Error(`server binary not found at ${serverBin}: build it with \`cargo build -p tandem\` (or set TANDEM_BIN)`)
  }
  const child = spawn(serverBin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    cwd: repoRoot,
    env: serverEnv(env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines = []
  const remember = (stream) => (chunk) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.length === 0) continue
      lines.push(`[${stream}] ${line}`)
      if (lines.length > 400) lines.shift()
    }
  }
  let exited = null
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      resolve(exited)
    })
  })
  child.stderr.on('data', remember('stderr'))

  const logs = () => lines.slice(-60).join('\n')

  const url = await new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server did not print "listening on http://..." within ${startTimeoutMs} ms\n${logs()}`))
    }, startTimeoutMs)
    let found = false
    child.stdout.on('data', (chunk) => {
      remember('stdout')(chunk)
      if (found) return
      buffered += chunk.toString('utf8')
      // host:port only, so colour codes or punctuation after the address are not captured
      const m = buffered.match(/listening on (http:\/\/[A-Za-z0-9.\-[\]:]+)/)
      if (m) {
        clearTimeout(timer)
        found = true
        buffered = ''
        resolve(m[1].replace(/\/+$/, ''))
      }
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`could not start ${serverBin}: ${err.message}`))
    })
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`server exited during startup (code ${code}, signal ${signal})\n${logs()}`))
    })
  })

  async function waitExit (ms) {
    if (exited) return exited
    // The timer is cancelled once the server exits: a pending one would keep this test file's
    // process alive for the rest of `ms` after its last test.
    const giveUp = new AbortController()
    const timeout = sleep(ms, null, { signal: giveUp.signal }).catch(() => null)
    try {
      return await Promise.race([exitPromise, timeout])
    } finally {
      giveUp.abort()
    }
  }

  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    child,
    logs,
    /** Graceful stop: SIGTERM, then SIGKILL if it does not exit within 5 s. */
    async stop () {
      if (exited) return exited
      child.kill('SIGTERM')
      const res = await waitExit(5000)
      if (res) return res
      child.kill('SIGKILL')
      return exitPromise
    },
    /** Crash: SIGKILL, no chance to flush anything. */
    async kill () {
      if (exited) return exited
      child.kill('SIGKILL')
      return exitPromise
    }
  }
}

/**
 * A real y-websocket client: its own Y.Doc and WebsocketProvider. BroadcastChannel is off,
 * because Node has a global BroadcastChannel and providers in one process would otherwise sync
 * with each other directly, bypassing the server under test.
 */
export function connectClient (server, docName, { connect = true, params = {} } = {}) {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(server.wsUrl, docName, ydoc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    connect,
    params,
    // reconnect quickly after a deliberate disconnect/restart so tests stay short
    maxBackoffTime: 500
  })
  const text = ydoc.getText('content')
  return {
    ydoc,
    provider,
    text,
    awareness: provider.awareness,
    toString: () => text.toString(),
    destroyed: false,
    destroy () {
      if (this.destroyed) return
      this.destroyed = true
      provider.destroy()
      ydoc.destroy()
    }
  }
}

/** Resolves once the provider finished its initial sync with the server. */
export function waitSynced (client, timeoutMs = 10000, what = 'provider sync') {
  return waitFor(what, () => client.provider.synced, { timeoutMs })
}

/** GET a URL and return { status, headers, body (string) }, with a timeout. */
export async function httpGet (url, timeoutMs = 10000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  return { status: res.status, headers: res.headers, body: await res.text() }
}

/** GET a URL and return its body as bytes, with a timeout. */
export async function httpGetBytes (url, timeoutMs = 10000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) }
}

/** The URL path segment for a document name (names are URL-safe, but be explicit). */
export function docPath (name) {
  return encodeURIComponent(name)
}

/**
 * A throwaway PostgreSQL database, dropped by `drop()`: `{ url, drop }`; `{ skip }` when there
 * is no server to use (the reason names what is missing, so the test command counts it, and
 * fails it on CI); `{ error }` when the server that was given does not work (a failure, not a
 * skip).
 */
export function postgresDatabase (label) {
  const admin = process.env.TANDEM_TEST_PG_URL
  if (!admin) return { skip: 'needs PostgreSQL: TANDEM_TEST_PG_URL is not set (scripts/test.sh provides one)' }
  const psql = (sql) => spawnSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], {
    encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe']
  })
  const probe = psql('select 1')
  if (probe.error?.code === 'ENOENT') return { skip: 'needs psql (Debian: postgresql-client) to make the test database' }
  if (probe.error || probe.status !== 0) {
    return { error: `TANDEM_TEST_PG_URL=${admin} does not work with psql: ${probe.error?.message || probe.stderr}` }
  }
  const name = `tandem_${label}_${process.pid}_${Date.now().toString(36)}`
  const created = psql(`create database ${name}`)
  if (created.status !== 0) return { error: `create database ${name} failed: ${created.error?.message || created.stderr}` }
  const url = new URL(admin)
  url.pathname = '/' + name
  return { url: url.toString(), drop: () => psql(`drop database if exists ${name} with (force)`) }
}

/** The `nats-server` binary: TANDEM_TEST_NATS_SERVER, PATH, or Debian's /usr/sbin; null if none. */
export function natsServerBin () {
  if (process.env.TANDEM_TEST_NATS_SERVER) return process.env.TANDEM_TEST_NATS_SERVER
  for (const dir of (process.env.PATH || '').split(path.delimiter).concat('/usr/sbin')) {
    if (dir && existsSync(path.join(dir, 'nats-server'))) return path.join(dir, 'nats-server')
  }
  return null
}

/**
 * A private `nats-server` on a port it picks itself on 127.0.0.1 (never the machine's own
 * service): `{ url, port, kill() }`, resolved once it is ready.
 */
export async function startNats ({ timeoutMs = 20000 } = {}) {
  const bin = natsServerBin()
  if (!bin) throw new Error('nats-server not found (Debian: apt-get install nats-server; or set TANDEM_TEST_NATS_SERVER)')
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  let exited = null
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal }
    resolve(exited)
  }))
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`nats-server did not become ready within ${timeoutMs} ms\n${log}`))
    }, timeoutMs)
    let listening = null
    child.stderr.on('data', (chunk) => {
      log += chunk.toString('utf8')
      listening ??= log.match(/Listening for client connections on [\d.]+:(\d+)/)?.[1]
      if (listening && /Server is ready/.test(log)) {
        clearTimeout(timer)
        resolve(Number(listening))
      }
    })
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`nats-server exited during startup (code ${code}, signal ${signal})\n${log}`))
    })
  })
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    logs: () => log,
    async kill () {
      if (exited) return exited
      child.kill('SIGKILL')
      return exitPromise
    }
  }
}

export { Y, sleep }
