// What both checks need: the server binary the test command built, a local `tandem serve`,
// a real y-websocket client, and waiting with a deadline (a broken server fails a test, it
// never hangs it).

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The binary under test: TANDEM_BIN (scripts/test.sh sets it), else the debug build. */
export const serverBin = process.env.TANDEM_BIN || path.join(repoRoot, 'target', 'debug', 'tandem')

/** Whether running on CI, where a skipped check counts as failed. */
export const onCi = ['true', '1'].includes(process.env.CI ?? '')

/** Polls `check` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function waitFor (what, check, { timeoutMs = 15000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs
  let last = null
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`)
    }
    await sleep(intervalMs)
  }
}

/** The caller's environment without settings that would point the server elsewhere. */
function cleanEnv (extra) {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k === 'DATABASE_URL' || k.startsWith('TANDEM_')) delete env[k]
  return { ...env, ...extra }
}

/** `tandem serve` on a free loopback port; resolves with { url, stop(), logs() } once it listens. */
export async function startServer ({ dataDir, args = [], env = {}, timeoutMs = 30000 }) {
  if (!existsSync(serverBin)) throw new Error(`no server binary at ${serverBin}: cargo build -p tandem (or set TANDEM_BIN)`)
  const child = spawn(serverBin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    cwd: repoRoot, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (d) => { out = (out + d).slice(-20000) }
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not listen within ${timeoutMs} ms\n${out}`)) }, timeoutMs)
    child.stdout.on('data', (d) => {
      keep(d)
      const m = out.match(/listening on (http:\/\/[A-Za-z0-9.\-[\]:]+)/)
      if (m) { clearTimeout(timer); resolve(m[1]) }
    })
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? signal})\n${out}`)) })
  })
  return {
    url,
    logs: () => out,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const done = await Promise.race([exited, sleep(5000, null)])
      if (!done) { child.kill('SIGKILL'); await exited }
    }
  }
}

/**
 * A real y-websocket client on document `doc` of the server at `baseUrl` (http://host:port):
 * { ydoc, text, provider, synced(), destroy() }. BroadcastChannel is off, so that clients in
 * one process reach each other only through the server.
 */
export function connectClient (baseUrl, doc) {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(baseUrl.replace(/^http/, 'ws') + '/ws', doc, ydoc, {
    WebSocketPolyfill: WebSocket, disableBc: true, maxBackoffTime: 500
  })
  return {
    ydoc,
    provider,
    text: ydoc.getText('content'),
    synced: (timeoutMs = 15000) => waitFor(`sync of ${doc}`, () => provider.synced, { timeoutMs }),
    destroy () { provider.destroy(); ydoc.destroy() }
  }
}

/** GET `url` with a timeout: { status, body }. */
export async function httpGet (url, timeoutMs = 10000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  return { status: res.status, body: await res.text() }
}

export { sleep }
