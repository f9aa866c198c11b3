// Debian's podman, as it runs on the test machines: the `runc` runtime (crun is refused
// "setrlimit ... Operation not permitted") and container limits at or below the machine's
// (podman's defaults are above them). And the Debian bookworm base the image starts from,
// made with debootstrap because public registries may be out of reach, cached between runs.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'

/** Options every `podman run` and `podman build` gets. */
export const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']

/** The local base image, and where its root file system is kept as a tar between runs. */
export const BASE_IMAGE = 'localhost/tandem-test-base:bookworm'
export const cacheDir = process.env.TANDEM_IMAGE_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'tandem')
const baseTar = path.join(cacheDir, 'debian-bookworm-minbase.tar')
const MIRROR = process.env.TANDEM_DEBIAN_MIRROR || 'http://deb.debian.org/debian'

/** Why the image check cannot run here, or null when it can. */
export function missingForPodman () {
  if (process.getuid?.() !== 0) return 'the image check needs root (debootstrap and podman with runc run as root here)'
  for (const [cmd, pkg] of [['podman', 'podman'], ['runc', 'runc'], ['debootstrap', 'debootstrap']]) {
    const found = spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { encoding: 'utf8' })
    if (found.status !== 0) return `${cmd} is not installed (Debian: apt-get install ${pkg}; scripts/test.sh installs it)`
  }
  return null
}

/** podman ARGS... synchronously, with the runc runtime: { status, stdout, stderr }. */
export function podman (args, { timeoutMs = 120000, input } = {}) {
  const r = spawnSync('podman', ['--runtime', 'runc', ...args], {
    encoding: 'utf8', timeout: timeoutMs, input, maxBuffer: 64 * 1024 * 1024
  })
  if (r.error) throw new Error(`podman ${args.join(' ')}: ${r.error.message}`)
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() }
}

/** podman ARGS... that must succeed: its stdout. */
export function podmanOk (args, opts) {
  const r = podman(args, opts)
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.status}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}

/** A command run asynchronously (long ones: debootstrap, tar | podman import), bounded. */
function runLong (cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out = (out + d).slice(-8000) })
    child.stderr.on('data', (d) => { out = (out + d).slice(-8000) })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? `killed after ${timeoutMs} ms`}${signal ? `, ${signal}` : ''}):\n${out}`))
    })
  })
}

/**
 * Makes sure BASE_IMAGE exists: in podman's storage already, else imported from the cached
 * tar, else made by debootstrap (minutes, once) and cached. Returns how it was obtained.
 */
export async function ensureBaseImage (log = () => {}) {
  if (podman(['image', 'exists', BASE_IMAGE]).status === 0) return 'cached in podman storage'
  let how = `imported from ${baseTar}`
  if (!existsSync(baseTar) || statSync(baseTar).size === 0) {
    mkdirSync(cacheDir, { recursive: true })
    const work = mkdtempSync(path.join(tmpdir(), 'tandem-debootstrap-'))
    try {
      const root = path.join(work, 'rootfs')
      const started = Date.now()
      log(`debootstrap --variant=minbase bookworm from ${MIRROR} (once; cached in ${baseTar})`)
      await runLong('debootstrap', ['--variant=minbase', 'bookworm', root, MIRROR], 15 * 60 * 1000)
      // apt's downloaded packages are not part of the image
      rmSync(path.join(root, 'var/cache/apt/archives'), { recursive: true, force: true })
      mkdirSync(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true })
      const partial = `${baseTar}.partial`
      await runLong('tar', ['-C', root, '--numeric-owner', '-cf', partial, '.'], 5 * 60 * 1000)
      renameSync(partial, baseTar)
      how = `made by debootstrap in ${Math.round((Date.now() - started) / 1000)} s`
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }
  await runLong('podman', ['--runtime', 'runc', 'import', baseTar, BASE_IMAGE], 5 * 60 * 1000)
  return how
}
