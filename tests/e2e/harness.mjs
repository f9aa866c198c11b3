// Shared helpers for the browser tests: start the real server, drive Debian Chromium.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const artifactsDir = path.join(repoRoot, 'test-artifacts')

// A relative TANDEM_BIN is taken from the repo root, since `npm --prefix` changes directory.
export const serverBin = () => path.resolve(repoRoot, process.env.TANDEM_BIN || 'target/debug/tandem')

/**
/**
 * The server's environment: this process's, without the settings that would point the server
 * elsewhere (a developer's DATABASE_URL, TANDEM_SECRET or any other TANDEM_* setting); a
 * test passes what it needs as flags.
 */
export function serverEnv () {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' }
  for (const key of Object.keys(env)) {
    if (key === 'DATABASE_URL' || key.startsWith('TANDEM_')) delete env[key]
  }
  return env
}

/**
 * Options (for restarting a server on the same address and data): `dataDir` reuses a data
 * directory (then `stop()` keeps it), `listen` picks the address, `env` adds variables.
 */
export async function startServer (extraArgs = [], opts = {}) {
  const bin = serverBin()
  const webDir = path.join(repoRoot, 'web/dist')
  if (!existsSync(path.join(webDir, 'index.html'))) {
    throw new Error(`web/dist is missing: run "npm ci && npm run build" in web/ first`)
  }
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'tandem-e2e-'))
  const args = ['serve', '--listen', opts.listen ?? '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', webDir, ...extraArgs]
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...serverEnv(), ...opts.env } })
  let log = ''
  child.stderr.on('data', (d) => { log += d })
  const url = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`server did not print its address within 20 s\n${log}`)), 20000)
    child.stdout.on('data', (d) => {
      out += d
      const m = /listening on (http:\/\/[^\s]+)/.exec(out)
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')) }
    })
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited early (${code})\n${out}\n${log}`)) })
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
  return {
    url,
    dataDir,
    pid: child.pid,
    log: () => log,
    async stop () {
      if (child.exitCode === null) {
        child.kill('SIGCONT') // in case a test paused it
        child.kill('SIGTERM')
        // The timer is cleared once the server exits: a pending one would keep this test
        // file's process alive for the rest of the 5 s after its last test.
        let timer
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => { timer = setTimeout(r, 5000) })])
        clearTimeout(timer)
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser () {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  })
}

/** A fresh browser context (separate storage, like a second person) with a presence name. */
export async function openAs (browser, name, url, viewport = { width: 900, height: 700 }) {
  const context = await browser.newContext({ viewport })
  await context.addInitScript((n) => { try { localStorage.setItem('tandem:name', n) } catch {} }, name)
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message))
  page.on('dialog', (d) => d.accept())
  await page.goto(url)
  await page.waitForSelector('.cm-content')
  return { context, page }
}

export async function editorText (page) {
  return page.evaluate(() => {
    // Remote carets, widget buffers and the placeholder are decorations, not text.
    const content = document.querySelector('.cm-content').cloneNode(true)
    for (const el of content.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer, .cm-placeholder')) el.remove()
    return Array.from(content.querySelectorAll('.cm-line')).map((l) => l.textContent).join('\n')
  })
}

export async function waitForStatus (page, status, transport, timeout = 20000) {
  await page.waitForFunction(([s, t]) => {
    const el = document.getElementById('conn-status')
    return el && el.dataset.status === s && (!t || el.dataset.transport === t)
  }, [status, transport], { timeout })
}

/** Polls until every page shows the same text, which also must satisfy `check`. */
export async function waitConverged (pages, check = () => true, timeout = 20000) {
  const deadline = Date.now() + timeout
  let texts = []
  while (Date.now() < deadline) {
    texts = await Promise.all(pages.map(editorText))
    if (texts.every((t) => t === texts[0]) && check(texts[0])) return texts[0]
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`editors did not converge: ${JSON.stringify(texts)}`)
}

export function ensureArtifactsDir () {
  mkdirSync(artifactsDir, { recursive: true })
  return artifactsDir
}

/**
 * A TCP proxy on a port the OS picks, held until `close()`: a test that restarts the server
 * gives the browser this address, and `retarget()`s it to each new server (on a port of its
 * own), so no other process can take the address the browser reconnects to. While the
 * target is down, connections close at once, as if refused.
 */
export async function startProxy (targetUrl) {
  const { createServer, connect } = await import('node:net')
  let target = new URL(targetUrl)
  const sockets = new Set()
  const proxy = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname)
    const end = () => {
      inbound.destroy()
      outbound.destroy()
      sockets.delete(inbound)
      sockets.delete(outbound)
    }
    sockets.add(inbound)
    sockets.add(outbound)
    for (const s of [inbound, outbound]) s.on('error', end).on('close', end)
    inbound.pipe(outbound)
    outbound.pipe(inbound)
  })
  await new Promise((resolve, reject) => proxy.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    retarget (url) { target = new URL(url) },
    close () {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => proxy.close(resolve))
    },
  }
}
