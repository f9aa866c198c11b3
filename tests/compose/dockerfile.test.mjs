// Static checks of the Dockerfile: its stages, that it builds with scripts/build.sh, and
// what the image users get runs (non-root, health check, port, volume, settings). That the
// image really builds and runs is checked with podman in tests/deploy (docs/container.md).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (rel) => readFileSync(path.join(root, rel), 'utf8')


/** Dockerfile instructions as { cmd, args, stage }, continuation lines joined. */
function parseDockerfile (text) {
  const out = []
  let stage = -1
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (!pending && (/^\s*#/.test(line) || line.trim() === '')) continue
    if (pending && /^\s*#/.test(line)) continue // comments inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    const full = (pending + line).trim()
    pending = ''
    const m = full.match(/^(\w+)\s+(.*)$/s)
    if (!m) continue
    const cmd = m[1].toUpperCase()
    if (cmd === 'FROM') stage++
    out.push({ cmd, args: m[2].replace(/\s+/g, ' ').trim(), stage })
  }
  return out
}

const dockerfile = parseDockerfile(read('Dockerfile'))
const froms = dockerfile.filter((i) => i.cmd === 'FROM')
const lastStage = froms.length - 1
// ARGs before the first FROM, with their defaults: what `FROM ${BASE_IMAGE}` means by default
const globalArgs = Object.fromEntries(dockerfile.filter((i) => i.stage === -1 && i.cmd === 'ARG')
  .map((i) => i.args.split('=')).map(([k, v]) => [k.trim(), (v ?? '').trim()]))
const stageNames = froms.map((f) => f.args.match(/\bAS\s+(\S+)/i)?.[1] ?? null)
const stageBase = (n) => froms[n].args.split(' ')[0]
  .replace(/\$\{(\w+)\}/g, (all, k) => globalArgs[k] ?? all)
/** A stage's instructions with those of the stages it is built FROM, first to last. */
function stageChain (n) {
  const parent = stageNames.indexOf(stageBase(n))
  const own = dockerfile.filter((i) => i.stage === n)
  return parent >= 0 ? [...stageChain(parent), ...own] : own
}
/** The image a stage starts from, through the stages it is built FROM. */
const rootImage = (n) => stageNames.includes(stageBase(n)) ? rootImage(stageNames.indexOf(stageBase(n))) : stageBase(n)
// what the default target (the last stage) runs, inherited stages included
const final = stageChain(lastStage)

test('Dockerfile: multi-stage node -> rust -> debian slim', () => {
  const images = froms.map((_, n) => stageBase(n))
  assert.ok(images.includes('node:20-bookworm-slim'), `stages: ${images}`)
  assert.ok(images.includes('rust:1-bookworm'), `stages: ${images}`)
  assert.equal(rootImage(lastStage), 'debian:bookworm-slim')
})

test('Dockerfile: runtime-prebuilt is the default image but for where the binary comes from', () => {
  // The test command's image check (tests/image) builds runtime-prebuilt: it proves the
  // users' image only if both share every instruction but the COPY of Tandem's own files.
  const pre = stageNames.indexOf('runtime-prebuilt')
  assert.ok(pre >= 0, 'no stage runtime-prebuilt')
  const shared = (n) => stageChain(n).filter((i) => i.cmd !== 'COPY' && i.cmd !== 'ARG' && i.cmd !== 'FROM')
  assert.deepEqual(shared(pre), shared(lastStage))
  assert.ok(shared(lastStage).length >= 8, 'the shared runtime stage holds the settings, USER and HEALTHCHECK')
  const dests = (n) => dockerfile.filter((i) => i.stage === n && i.cmd === 'COPY').map((i) => i.args.split(' ').at(-1)).sort()
  assert.deepEqual(dests(pre), dests(lastStage))
})

test('Dockerfile builds with scripts/build.sh, the script run.sh uses', () => {
  const runs = dockerfile.filter((i) => i.cmd === 'RUN').map((i) => i.args)
  assert.ok(runs.some((r) => /scripts\/build\.sh\s+web\b/.test(r)), 'no RUN scripts/build.sh web')
  assert.ok(runs.some((r) => /scripts\/build\.sh\s+server\b/.test(r)), 'no RUN scripts/build.sh server')
  assert.ok(!runs.some((r) => /cargo build|npm run build/.test(r)),
    'the Dockerfile should not build by hand: use scripts/build.sh')
  assert.match(read('scripts/run.sh'), /scripts\/build\.sh/, 'run.sh must build with scripts/build.sh too')
})

test('Dockerfile: COPY sources exist in the repository', () => {
  // (sources named by a build argument come from a context of their own: runtime-prebuilt)
  for (const i of dockerfile.filter((x) => x.cmd === 'COPY' && !/--from=/.test(x.args) && !/\$\{/.test(x.args))) {
    const parts = i.args.split(' ').filter((p) => !p.startsWith('--'))
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(path.join(root, src)), `COPY source ${src} does not exist`)
    }
  }
})

test('Dockerfile final stage: non-root user, healthcheck, port, volume, settings', () => {
  const users = final.filter((i) => i.cmd === 'USER').map((i) => i.args.split(':')[0])
  assert.ok(users.length > 0, 'final stage has no USER')
  assert.ok(!['root', '0'].includes(users[users.length - 1]), 'final stage must not run as root')
  const hc = final.find((i) => i.cmd === 'HEALTHCHECK')
  assert.ok(hc, 'final stage has no HEALTHCHECK')
  assert.match(hc.args, /tandem"?,?\s*"?healthcheck/)
  assert.ok(final.some((i) => i.cmd === 'EXPOSE' && /\b8080\b/.test(i.args)), 'EXPOSE 8080 missing')
  assert.ok(final.some((i) => i.cmd === 'VOLUME' && /\/data\b/.test(i.args)), 'VOLUME /data missing')
  const env = final.filter((i) => i.cmd === 'ENV').map((i) => i.args).join(' ')
  assert.match(env, /TANDEM_LISTEN=0\.0\.0\.0:8080/)
  assert.match(env, /TANDEM_DATA_DIR=\/data/)
  assert.match(env, /TANDEM_WEB_DIR=\/app\/web/)
})
