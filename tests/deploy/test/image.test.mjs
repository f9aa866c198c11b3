// The container image really runs: the runtime stage users get (Dockerfile target
// runtime-prebuilt, the same stage as the default image but for where the binary comes from)
// is built with podman on a Debian bookworm made by debootstrap, from the binary and editor
// the test command built; it starts with a volume and a published port, its HEALTHCHECK
// passes, a y-websocket client edits a document through the port, the document survives a
// restart, the server runs as the unprivileged user, and a bad setting stops it at start.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { BASE_IMAGE, LIMITS, ensureBaseImage, missingForPodman, podman, podmanOk } from '../lib/podman.mjs'
import { connectClient, httpGet, repoRoot, serverBin, waitFor } from '../lib/tandem.mjs'

const webDist = process.env.TANDEM_WEB_DIST || path.join(repoRoot, 'web', 'dist')
const skip = missingForPodman() ||
  (!existsSync(serverBin) && `no server binary at ${serverBin} (cargo build -p tandem)`) ||
  (!existsSync(path.join(webDist, 'index.html')) && `no built editor at ${webDist} (scripts/build.sh web)`) ||
  false

const tag = `${process.pid}-${Date.now().toString(36)}`
const IMAGE = `localhost/tandem-imagecheck:${tag}`
const CONTAINER = `tandem-imagecheck-${tag}`
const VOLUME = `tandem-imagecheck-${tag}`
const UID = '10001'
const MEMORY = 512 * 1024 * 1024

/** Exit status of the image's own HEALTHCHECK command, run now. */
const healthcheck = () => podman(['healthcheck', 'run', CONTAINER], { timeoutMs: 30000 })

/** Waits until the HEALTHCHECK passes; fails with the container's log if it does not. */
async function healthy (what) {
  let last = null
  try {
    await waitFor(`HEALTHCHECK of ${what}`, () => { last = healthcheck(); return last.status === 0 }, { timeoutMs: 60000, intervalMs: 500 })
  } catch (err) {
    const logs = podman(['logs', '--tail', '40', CONTAINER])
    throw new Error(`${err.message}\nlast: ${last?.status} ${last?.stdout} ${last?.stderr}\nlog:\n${logs.stdout}\n${logs.stderr}`)
  }
}

/** http://127.0.0.1:PORT, the host side of the container's published port 8080. */
function published () {
  const line = podmanOk(['port', CONTAINER, '8080/tcp'])
  const m = line.match(/(\d+\.\d+\.\d+\.\d+):(\d+)/)
  assert.ok(m, `podman port: ${line}`)
  return `http://${m[1]}:${m[2]}`
}

// (skipped test by test, not as a suite: the test command counts tests, and a skipped suite
// would show as none)
/** The container, on the volume, with port 8080 published on a free loopback port. */
function startContainer () {
  podmanOk(['run', '--detach', '--name', CONTAINER, ...LIMITS, '--memory', String(MEMORY),
    '--volume', `${VOLUME}:/data`, '--publish', '127.0.0.1::8080', IMAGE])
}

/** A new y-websocket client, through the published port, finds `doc` holding `words`. */
async function expectDocument (doc, words, when) {
  const reader = connectClient(published(), doc) // the host port may change on restart
  try {
    await reader.synced()
    await waitFor(`the document ${when}`, () => reader.text.toString() === words, { timeoutMs: 10000 })
  } finally {
    reader.destroy()
  }
}

describe('container image', { timeout: 30 * 60 * 1000 }, () => {
  let context = null

  before(async () => {
    if (skip) return
    const how = await ensureBaseImage((msg) => console.log(`# ${msg}`))
    console.log(`# base image ${BASE_IMAGE}: ${how}`)
    // The build context is the binary and the editor only (the repository's .dockerignore
    // leaves target/ and web/dist out of a build from the checkout).
    context = mkdtempSync(path.join(tmpdir(), 'tandem-image-context-'))
    cpSync(serverBin, path.join(context, 'tandem'))
    cpSync(webDist, path.join(context, 'web'), { recursive: true })
  })

  after(() => {
    if (skip) return
    podman(['rm', '--force', '--time', '2', CONTAINER])
    podman(['volume', 'rm', '--force', VOLUME])
    podman(['rmi', '--force', IMAGE])
    if (context) rmSync(context, { recursive: true, force: true })
  })

  it('builds the runtime-prebuilt target from the binary the test command built', { skip }, () => {
    // --format docker: an OCI image has no HEALTHCHECK (podman drops it with a warning)
    podmanOk(['build', '--runtime', 'runc', ...LIMITS, '--format', 'docker', '--network', 'host',
      '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '--target', 'runtime-prebuilt',
      '-f', path.join(repoRoot, 'Dockerfile'), '-t', IMAGE, context], { timeoutMs: 10 * 60 * 1000 })
    const [config] = JSON.parse(podmanOk(['image', 'inspect', IMAGE]))
    assert.deepEqual(config.Config.Entrypoint, ['tandem'])
    const hc = config.Healthcheck ?? config.Config.Healthcheck
    assert.deepEqual(hc?.Test, ['CMD', 'tandem', 'healthcheck'], `HEALTHCHECK: ${JSON.stringify(hc)}`)
  })

  it('starts with a volume and a published port, and its HEALTHCHECK passes', { skip }, async () => {
    podmanOk(['volume', 'create', VOLUME])
    startContainer()
    await healthy('the new container')
    const res = await httpGet(`${published()}/healthz`)
    assert.equal(res.status, 200)
  })

  it('reports the container\'s memory limit on /metrics (alert TandemMemoryNearLimit)', { skip }, async () => {
    const metrics = (await httpGet(`${published()}/metrics`)).body
    assert.match(metrics, new RegExp(`^tandem_memory_limit_bytes ${MEMORY}$`, 'm'))
    const rss = Number(metrics.match(/^tandem_resident_memory_bytes (\d+)$/m)?.[1])
    assert.ok(rss > 1024 * 1024 && rss < MEMORY, `resident memory ${rss}`)
  })

  it('runs the server as the unprivileged user, uid 10001', { skip }, () => {
    // the server is the container's process 1; its real, effective, saved and fs uids
    const status = podmanOk(['exec', CONTAINER, 'cat', '/proc/1/status'])
    const uids = status.match(/^Uid:\s+(.*)$/m)?.[1].trim().split(/\s+/)
    assert.deepEqual(uids, [UID, UID, UID, UID], `process 1: ${status.match(/^Uid:.*$/m)}`)
    const [config] = JSON.parse(podmanOk(['image', 'inspect', IMAGE]))
    assert.equal(config.Config.User, 'tandem')
    // what it writes on the volume is its own
    assert.equal(podmanOk(['exec', CONTAINER, 'stat', '-c', '%u', '/data']), UID)
  })

  it('keeps a document edited over WebSocket through the published port across a restart, on its volume', { skip }, async () => {
    const doc = `image-check-${tag}`
    const words = `typed through podman's published port ${tag}`
    const base = published()
    const writer = connectClient(base, doc)
    try {
      await writer.synced()
      writer.text.insert(0, words)
      // the server has it once its HTTP API renders it
      await waitFor('the edit on the server', async () => {
        const r = await httpGet(`${base}/api/documents/${doc}/text`)
        return r.status === 200 && r.body.includes(words)
      })
    } finally {
      writer.destroy()
    }
    podmanOk(['restart', '--time', '10', CONTAINER], { timeoutMs: 60000 })
    await healthy('the restarted container')
    await expectDocument(doc, words, 'after the restart')
    // and in a new container on the same volume: the document is on the volume, not in the
    // container's own file system (which a restart keeps)
    podmanOk(['rm', '--force', '--time', '10', CONTAINER], { timeoutMs: 60000 })
    startContainer()
    await healthy('a new container on the same volume')
    await expectDocument(doc, words, 'in a new container on the same volume')
  })

  it('refuses to start with a bad setting: non-zero exit and a message naming it', { skip }, () => {
    const r = podman(['run', '--rm', ...LIMITS, '--env', 'TANDEM_MAX_DOCUMENT_BYTES=lots', IMAGE], { timeoutMs: 60000 })
    assert.notEqual(r.status, 0, `started anyway:\n${r.stdout}\n${r.stderr}`)
    assert.match(r.stderr, /invalid value 'lots'/, r.stderr)
    assert.match(r.stderr, /max-document-bytes/, r.stderr)
  })
})
