// Static checks of the self-hosting files. Nothing here needs Docker: the compose file is
// parsed and checked for what a working deployment depends on; when `docker-compose` (or the
// `docker compose` plugin) and `nginx` are installed, their own validators run as well.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (rel) => readFileSync(path.join(root, rel), 'utf8')

// ---------------------------------------------------------------------------------------
// docker-compose.yml

const composeText = read('docker-compose.yml')
const composeDoc = YAML.parseDocument(composeText, { uniqueKeys: true })
const compose = composeDoc.toJS()
const services = compose?.services ?? {}

/** environment: as a map, whichever of the two compose syntaxes is used. */
function envOf (service) {
  const env = service?.environment ?? {}
  if (!Array.isArray(env)) return env
  return Object.fromEntries(env.map((kv) => {
    const i = kv.indexOf('=')
    return i < 0 ? [kv, undefined] : [kv.slice(0, i), kv.slice(i + 1)]
  }))
}

/** The container-side target of a volume entry (short "src:dst[:mode]" or long syntax). */
function volumeMounts (service) {
  return (service?.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':')
      return { source, target }
    }
    return { source: v.source, target: v.target }
  })
}

/** Healthcheck command as one string, whichever form ("CMD", "CMD-SHELL" or a string). */
function healthcheckCommand (service) {
  const t = service?.healthcheck?.test
  if (!t) return ''
  return Array.isArray(t) ? t.join(' ') : String(t)
}

test('docker-compose.yml is valid YAML without duplicate keys', () => {
  assert.deepEqual(composeDoc.errors.map(String), [])
  assert.equal(typeof compose, 'object')
})

test('compose defines the postgres and tandem services', () => {
  assert.ok(services.postgres, 'service "postgres" is missing')
  assert.ok(services.tandem, 'service "tandem" is missing')
})

test('postgres: version 16, healthcheck, data on a named volume', () => {
  const pg = services.postgres
  assert.match(String(pg.image), /^postgres:16(\b|$)/)
  assert.match(healthcheckCommand(pg), /pg_isready/, 'postgres needs a pg_isready healthcheck')
  const data = volumeMounts(pg).find((m) => m.target === '/var/lib/postgresql/data')
  assert.ok(data, 'postgres must mount a volume at /var/lib/postgresql/data')
  assert.ok(!/^[./~]/.test(data.source), `expected a named volume, got bind mount ${data.source}`)
  assert.ok(compose.volumes && data.source in compose.volumes,
    `named volume ${data.source} must be declared under top-level volumes:`)
  const env = envOf(pg)
  assert.ok('POSTGRES_PASSWORD' in env, 'postgres needs POSTGRES_PASSWORD')
})

test('tandem: built from the Dockerfile, waits for a healthy postgres, has a healthcheck', () => {
  const t = services.tandem
  const build = typeof t.build === 'string' ? { context: t.build } : t.build
  assert.ok(build, 'tandem must be built from this repository')
  assert.equal(path.resolve(root, build.context ?? '.'), root)
  assert.equal(build.dockerfile ?? 'Dockerfile', 'Dockerfile')
  assert.equal(t.depends_on?.postgres?.condition, 'service_healthy',
    'tandem must depend on postgres with condition: service_healthy')
  assert.match(healthcheckCommand(t), /\btandem\b.*\bhealthcheck\b/,
    'tandem healthcheck should run `tandem healthcheck`')
  assert.equal(t.restart, 'unless-stopped')
})

test('tandem: settings come from .env', () => {
  const t = services.tandem
  const envFiles = [t.env_file ?? []].flat().map((e) => (typeof e === 'string' ? e : e.path))
  assert.ok(envFiles.includes('.env'), 'tandem should read the settings in .env (env_file: .env)')
})

test('tandem: DATABASE_URL points at the postgres service', () => {
  const url = envOf(services.tandem).DATABASE_URL
  assert.ok(url, 'tandem needs DATABASE_URL')
  assert.match(url, /^postgres(ql)?:\/\/[^/]*@postgres(:5432)?\/\S+$/,
    `DATABASE_URL should reach host "postgres", got ${url}`)
})

test('tandem: container port 8080 is published', () => {
  const ports = services.tandem.ports ?? []
  const published = ports.some((p) => {
    if (typeof p === 'object') return Number(p.target) === 8080
    const parts = String(p).split(':')
    return parts[parts.length - 1].replace(/\/tcp$/, '') === '8080'
  })
  assert.ok(published, `expected a port mapping to container port 8080, got ${JSON.stringify(ports)}`)
  assert.equal(envOf(services.tandem).TANDEM_LISTEN, '0.0.0.0:8080')
})

// ---------------------------------------------------------------------------------------
// .env.example lists every setting

const envExample = read('.env.example')
const envExampleNames = new Set(
  envExample.split('\n')
    .map((l) => l.match(/^\s*#?\s*([A-Z][A-Z0-9_]*)=/))
    .filter(Boolean)
    .map((m) => m[1])
)

/** Every `.rs` file under a directory. */
function rustFiles (dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? rustFiles(p) : e.name.endsWith('.rs') ? [p] : []
  })
}

// the environment variables the server's flags read (clap's `env = "..."`), wherever they live;
// flags clap hides from --help (`hide = true`: test-only switches) are not user settings
const serverSettingNames = [...new Set(rustFiles(path.join(root, 'crates', 'server', 'src'))
  .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\benv\s*=\s*"([A-Z][A-Z0-9_]*)"([^\n]*)/g)]
    .filter((m) => !/\bhide\s*=\s*true\b/.test(m[2]))
    .map((m) => m[1])))].sort()

// the settings table of the README: | `--flag` | `ENV_NAME` | default | meaning |
const readmeSettingNames = [...read('README.md').matchAll(/^\|\s*`--[a-z0-9-]+`\s*\|\s*`([A-Z][A-Z0-9_]*)`/gm)]
  .map((m) => m[1])

test('.env.example documents every setting the server reads', () => {
  // a scan that finds (almost) nothing means the flags moved, not that all is documented
  assert.ok(serverSettingNames.length >= 15,
    `found only ${serverSettingNames.length} settings in crates/server/src: ${serverSettingNames.join(', ')}`)
  assert.deepEqual(serverSettingNames.filter((n) => !envExampleNames.has(n)), [],
    'settings the server reads that .env.example does not list')
})

test('.env.example lists every setting of the README and of docker-compose.yml', () => {
  assert.ok(readmeSettingNames.length >= 15,
    `found only ${readmeSettingNames.length} rows in the README's settings table`)
  assert.deepEqual(readmeSettingNames.filter((n) => !serverSettingNames.includes(n)), [],
    'the README documents settings the server does not read')
  // compose's own variables, on top of the server's settings
  const required = [...readmeSettingNames, 'POSTGRES_PASSWORD', 'TANDEM_PORT']
  assert.deepEqual(required.filter((n) => !envExampleNames.has(n)), [], 'settings .env.example does not list')
  // every variable the compose file interpolates, and every TANDEM_* it passes, is documented
  const interpolated = [...composeText.matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1])
  const passed = Object.keys(envOf(services.tandem)).filter((k) => k.startsWith('TANDEM_'))
  for (const name of new Set([...interpolated, ...passed])) {
    assert.ok(envExampleNames.has(name), `docker-compose.yml uses ${name}, which .env.example does not list`)
  }
})

// ---------------------------------------------------------------------------------------
// Dockerfile

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
const final = dockerfile.filter((i) => i.stage === lastStage)

test('Dockerfile: multi-stage node -> rust -> debian slim', () => {
  const images = froms.map((f) => f.args.split(' ')[0])
  assert.ok(images.includes('node:20-bookworm-slim'), `stages: ${images}`)
  assert.ok(images.includes('rust:1-bookworm'), `stages: ${images}`)
  assert.equal(images[lastStage], 'debian:bookworm-slim')
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
  for (const i of dockerfile.filter((x) => x.cmd === 'COPY' && !/--from=/.test(x.args))) {
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

// ---------------------------------------------------------------------------------------
// External validators, when installed

function have (cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20000 })
  return r.status === 0
}

function composeCommand () {
  if (have('docker-compose', ['version'])) return ['docker-compose']
  if (have('docker', ['compose', 'version'])) return ['docker', 'compose']
  return null
}

const composeCmd = composeCommand()
test('docker-compose config accepts the file', {
  skip: composeCmd ? false : 'docker-compose is not installed (apt-get install docker-compose)'
}, () => {
  const [cmd, ...pre] = composeCmd
  // Run in an empty directory with only the compose file, so a developer's .env does not leak
  // in; the required password is given in the environment instead.
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-compose-'))
  try {
    writeFileSync(path.join(dir, 'docker-compose.yml'), composeText)
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
    // env_file: .env must exist; the example is what a new user starts from.
    writeFileSync(path.join(dir, '.env'), envExample)
    const env = { ...process.env, POSTGRES_PASSWORD: 'compose-check' }
    const r = spawnSync(cmd, [...pre, '-f', path.join(dir, 'docker-compose.yml'), 'config', '-q'], {
      cwd: dir, env, encoding: 'utf8', timeout: 60000
    })
    assert.equal(r.status, 0, `compose config failed:\n${r.stdout}\n${r.stderr}`)

    // Without a password, compose must refuse to start rather than run an open database.
    const noPw = { ...process.env }
    delete noPw.POSTGRES_PASSWORD
    const r2 = spawnSync(cmd, [...pre, '-f', path.join(dir, 'docker-compose.yml'), 'config', '-q'], {
      cwd: dir, env: noPw, encoding: 'utf8', timeout: 60000
    })
    assert.notEqual(r2.status, 0, 'compose config should fail when POSTGRES_PASSWORD is unset')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// ---------------------------------------------------------------------------------------
// deploy/nginx.conf

const nginxConf = read('deploy/nginx.conf')

/** The body of `location PATH { ... }` (no nested blocks in ours). */
function locationBlock (p) {
  const m = nginxConf.match(new RegExp(`location\\s+${p.replace(/\//g, '\\/')}\\s*\\{([^}]*)\\}`))
  return m ? m[1] : null
}

function seconds (block, directive) {
  const m = block.match(new RegExp(`${directive}\\s+(\\d+)(s|m)?\\s*;`))
  if (!m) return 60 // nginx's default
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1)
}

test('nginx example: WebSocket upgrade on /ws/, no buffering and long timeouts for /sse/ and /poll/', () => {
  const ws = locationBlock('/ws/')
  assert.ok(ws, 'no location /ws/')
  assert.match(ws, /proxy_set_header\s+Upgrade\s+\$http_upgrade/)
  assert.match(ws, /proxy_set_header\s+Connection\s+\$\w+/)
  assert.match(nginxConf, /proxy_http_version\s+1\.1/)

  const sse = locationBlock('/sse/')
  assert.ok(sse, 'no location /sse/')
  assert.match(sse, /proxy_buffering\s+off/)
  assert.match(sse, /X-Accel-Buffering/)
  assert.ok(seconds(sse, 'proxy_read_timeout') > 15, 'SSE read timeout must outlast the 15 s heartbeat')

  const poll = locationBlock('/poll/')
  assert.ok(poll, 'no location /poll/')
  assert.match(poll, /proxy_buffering\s+off/)
  assert.ok(seconds(poll, 'proxy_read_timeout') > 25, 'poll read timeout must outlast the 25 s hold')
})

const haveNginx = have('nginx', ['-v'])
const haveOpenssl = have('openssl', ['version'])
test('nginx -t accepts the example config', {
  skip: haveNginx && haveOpenssl ? false : 'nginx or openssl is not installed'
}, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-nginx-'))
  try {
    // A throwaway certificate stands in for the Let's Encrypt paths.
    const cert = path.join(dir, 'cert.pem')
    const key = path.join(dir, 'key.pem')
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=tandem.test', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30000 })
    assert.equal(gen.status, 0, gen.stderr)
    const site = nginxConf
      .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${cert};`)
      .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${key};`)
    writeFileSync(path.join(dir, 'tandem.conf'), site)
    writeFileSync(path.join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  include ${dir}/tandem.conf;\n}\n`)
    const r = spawnSync('nginx', ['-t', '-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')], {
      encoding: 'utf8', timeout: 30000
    })
    assert.equal(r.status, 0, `nginx -t failed:\n${r.stdout}\n${r.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
