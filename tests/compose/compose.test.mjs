// Static checks of the self-hosting files (and that scripts/run.sh rebuilds the editor only
// when its sources changed). Nothing here needs Docker: the compose file is
// parsed and checked for what a working deployment depends on; when `docker-compose` (or the
// `docker compose` plugin) and `nginx` are installed, their own validators run as well, and
// nginx runs deploy/nginx.conf in front of two stand-in instances to show where it sends
// each kind of request.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync, cpSync, mkdirSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (rel) => readFileSync(path.join(root, rel), 'utf8')

// ---------------------------------------------------------------------------------------
// docker-compose.yml

const composeText = read('docker-compose.yml')
const nginxConf = read('deploy/nginx.conf')
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
      // split on the colons outside ${...} (a source may be `${DIR:-./default}`)
      const [source, target] = v.match(/(?:\$\{[^}]*\}|[^:])+/g)
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

test('.env (the database password and the secret) is ignored by git', () => {
  // git check-ignore exits 0 when the path is ignored, 1 when it is not.
  const r = spawnSync('git', ['check-ignore', '--no-index', '-q', '.env'], { cwd: root })
  assert.equal(r.error, undefined, `git: ${r.error?.message}`)
  assert.equal(r.status, 0, '.env must be listed in .gitignore')
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
// docker-compose.yml, profile `cluster`: a second instance, NATS and nginx

const CLUSTER = ['nats', 'tandem-2', 'nginx']

test('compose: the cluster profile is optional; the default services have no profile', () => {
  for (const name of ['postgres', 'tandem']) {
    assert.equal(services[name].profiles, undefined, `${name} must start without a profile`)
  }
  for (const name of CLUSTER) {
    assert.ok(services[name], `service "${name}" is missing`)
    assert.deepEqual(services[name].profiles, ['cluster'], `${name} belongs to the cluster profile only`)
  }
})

test('cluster: NATS with a health check, reachable by the instances only', () => {
  const nats = services.nats
  assert.match(String(nats.image), /^nats:/)
  assert.ok(healthcheckCommand(nats), 'nats needs a healthcheck')
  assert.equal(nats.ports, undefined, 'NATS must not be published')
})

test('cluster: the second instance runs like the first, under its own name', () => {
  const [one, two] = [services.tandem, services['tandem-2']]
  assert.equal(two.image, one.image, 'both instances run the same image')
  const envFiles = [two.env_file ?? []].flat().map((e) => (typeof e === 'string' ? e : e.path))
  assert.ok(envFiles.includes('.env'), 'tandem-2 reads the settings in .env')
  const [e1, e2] = [envOf(one), envOf(two)]
  assert.equal(e2.DATABASE_URL, e1.DATABASE_URL, 'both instances use one database')
  for (const k of ['TANDEM_LISTEN', 'TANDEM_DATA_DIR', 'TANDEM_WEB_DIR']) assert.equal(e2[k], e1[k], k)
  assert.ok(e1.TANDEM_INSTANCE_ID && e2.TANDEM_INSTANCE_ID, 'each instance is named')
  assert.notEqual(e1.TANDEM_INSTANCE_ID, e2.TANDEM_INSTANCE_ID, 'instance ids must differ')
  assert.equal(two.depends_on?.postgres?.condition, 'service_healthy')
  assert.equal(two.depends_on?.nats?.condition, 'service_healthy')
  assert.match(healthcheckCommand(two), /\btandem\b.*\bhealthcheck\b/)
  assert.equal(two.restart, 'unless-stopped')
  assert.equal(two.ports, undefined, 'the second instance is reached through nginx')
})

test('cluster: both instances take TANDEM_NATS_URL from .env, and the second refuses to run without it', () => {
  // Two instances on one database without NATS between them lose edits. Neither may set the
  // URL on its own: one value in .env reaches both, or the second instance does not start.
  for (const name of ['tandem', 'tandem-2']) {
    assert.equal(envOf(services[name]).TANDEM_NATS_URL, undefined, `${name} must not set TANDEM_NATS_URL itself`)
  }
  const entry = [services['tandem-2'].entrypoint ?? []].flat().join(' ')
  // `$$`: the container's shell reads the variable; a single `$` compose would fill in itself
  assert.match(entry, /-z\s+"\$\$\{TANDEM_NATS_URL(:-)?\}"[^]*exit 1[^]*exec tandem serve/,
    `tandem-2 must refuse to start without TANDEM_NATS_URL, got: ${entry}`)
  const suggested = envExample.match(/^\s*#?\s*TANDEM_NATS_URL=(\S+)/m)?.[1]
  assert.ok(suggested, '.env.example must show TANDEM_NATS_URL')
  assert.match(suggested, /^nats:\/\/nats:4222$/, '.env.example must suggest the nats service')
})

test('cluster: NATS demands a user and password, the instances present them and sign with a cluster key', () => {
  // Anyone who can publish on the bus could inject edits and presence (SECURITY.md, "The
  // cluster bus"): NATS runs deploy/nats.conf, whose authorization block takes the user and
  // password from the environment compose fills from .env, and refuses to start without one.
  const nats = services.nats
  const mounts = volumeMounts(nats)
  assert.ok(mounts.some((m) => m.source === './deploy/nats.conf' && m.target === '/etc/nats/nats.conf'),
    'nats must run deploy/nats.conf')
  const natsConf = read('deploy/nats.conf')
  assert.match(natsConf, /authorization\s*\{[^}]*user:\s*\$NATS_USER[^}]*password:\s*\$NATS_PASSWORD[^}]*\}/,
    'deploy/nats.conf must demand the user and password from the environment')
  assert.match(natsConf, /^\s*http_port:\s*8222\b/m, 'the health check reads /healthz on 8222')
  const env = envOf(nats)
  assert.match(String(env.NATS_USER), /^\$\{TANDEM_NATS_USER(:-[^}]*)?\}$/)
  assert.match(String(env.NATS_PASSWORD), /^\$\{TANDEM_NATS_PASSWORD(:-)?\}$/)
  const natsEntry = [nats.entrypoint ?? []].flat().join(' ')
  assert.match(natsEntry, /-z\s+"\$\$\{NATS_PASSWORD(:-)?\}"[^]*exit 1[^]*exec nats-server -c \/etc\/nats\/nats.conf/,
    `nats must refuse to start without a password, got: ${natsEntry}`)
  // The instances read credentials and key from .env, never set them on their own.
  for (const name of ['tandem', 'tandem-2']) {
    for (const k of ['TANDEM_CLUSTER_KEY', 'TANDEM_NATS_USER', 'TANDEM_NATS_PASSWORD']) {
      assert.equal(envOf(services[name])[k], undefined, `${name} must not set ${k} itself`)
    }
  }
  const entry = [services['tandem-2'].entrypoint ?? []].flat().join(' ')
  assert.match(entry, /-z\s+"\$\$\{TANDEM_NATS_PASSWORD(:-)?\}"[^]*exit 1[^]*exec tandem serve/,
    `tandem-2 must refuse to start without TANDEM_NATS_PASSWORD, got: ${entry}`)
  for (const k of ['TANDEM_CLUSTER_KEY', 'TANDEM_NATS_USER', 'TANDEM_NATS_PASSWORD', 'TANDEM_NATS_TLS_CA']) {
    assert.match(envExample, new RegExp(`^\\s*#?\\s*${k}=`, 'm'), `.env.example must show ${k}`)
  }
})

test('cluster: nginx runs deploy/nginx.conf in front of both instances', () => {
  const nginx = services.nginx
  assert.match(String(nginx.image), /^nginx:/)
  const mounts = volumeMounts(nginx)
  const conf = mounts.find((m) => /^\/etc\/nginx\/conf\.d\/[^/]+\.conf$/.test(m.target))
  assert.ok(conf, 'nginx must mount a site config into /etc/nginx/conf.d/')
  assert.equal(path.resolve(root, conf.source), path.join(root, 'deploy', 'nginx.conf'))
  // the certificate directory is where deploy/nginx.conf looks for it
  const certDir = path.dirname(nginxConf.match(/ssl_certificate\s+(\S+);/)[1])
  assert.ok(mounts.some((m) => m.target === certDir), `nginx must mount the certificates at ${certDir}`)
  for (const name of ['tandem', 'tandem-2']) {
    assert.equal(nginx.depends_on?.[name]?.condition, 'service_healthy', `nginx waits for ${name}`)
  }
  // the upstreams of deploy/nginx.conf are exactly the instances, on their container port
  const instances = ['tandem', 'tandem-2'].map((n) => `${n}:${envOf(services[n]).TANDEM_LISTEN.split(':').pop()}`)
  for (const name of ['tandem', 'tandem_sticky']) {
    assert.deepEqual(upstreamServers(name).sort(), instances.sort(), `upstream ${name}`)
  }
})

/** An IPv4 address as a number; a CIDR as [first, last]. */
const ipv4 = (a) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0)
function cidr (c) {
  const [a, bits] = c.split('/')
  const size = 2 ** (32 - Number(bits))
  const first = Math.floor(ipv4(a) / size) * size
  return [first, first + size - 1]
}
const within = (ip, c) => { const [lo, hi] = cidr(c); return ipv4(ip) >= lo && ipv4(ip) <= hi }

test('cluster: the instances trust nginx, and only nginx, to name the client', () => {
  // nginx sits on the network `proxy` at a fixed address that no other container can get
  // (the others draw from ip_range), and both instances trust exactly that address.
  const nets = services.nginx.networks
  const fixed = nets?.proxy?.ipv4_address
  assert.ok(fixed, 'nginx needs a fixed ipv4_address on the network proxy')
  assert.deepEqual(Object.keys(nets), ['proxy'], 'nginx reaches the instances over proxy only')
  const [ipam] = compose.networks?.proxy?.ipam?.config ?? []
  assert.ok(ipam?.subnet && ipam?.ip_range, 'the network proxy needs a subnet and an ip_range')
  assert.ok(within(fixed, ipam.subnet), `${fixed} must lie in ${ipam.subnet}`)
  assert.ok(!within(fixed, ipam.ip_range), `${fixed} must lie outside ip_range ${ipam.ip_range}`)
  assert.notEqual(ipv4(fixed), cidr(ipam.subnet)[0] + 1, 'not the gateway')
  for (const name of ['tandem', 'tandem-2']) {
    const trusted = envOf(services[name]).TANDEM_TRUSTED_PROXIES
    assert.equal(trusted, `\${TANDEM_TRUSTED_PROXIES:-${fixed}}`, `${name} trusts nginx (overridable in .env)`)
    assert.ok(services[name].networks?.includes('proxy'), `${name} is on the network proxy`)
    assert.ok(services[name].networks?.includes('default'), `${name} still reaches postgres`)
  }
  // nginx names the client: Tandem reads these headers from it
  assert.match(nginxConf, /proxy_set_header\s+X-Real-IP\s+\$remote_addr\s*;/)
  assert.match(nginxConf, /proxy_set_header\s+X-Forwarded-For\s+\$(proxy_add_x_forwarded_for|remote_addr)\s*;/)
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

// the settings tables of the configuration reference (generated from the flags by
// crates/server/src/config/reference.rs): | `--flag` | `ENV_NAME` | default | meaning |
const readmeSettingNames = [...read('docs/configuration.md').matchAll(/^\|\s*`--[a-z0-9-]+`\s*\|\s*`([A-Z][A-Z0-9_]*)`/gm)]
  .map((m) => m[1])

test('.env.example documents every setting the server reads', () => {
  // a scan that finds (almost) nothing means the flags moved, not that all is documented
  assert.ok(serverSettingNames.length >= 15,
    `found only ${serverSettingNames.length} settings in crates/server/src: ${serverSettingNames.join(', ')}`)
  assert.deepEqual(serverSettingNames.filter((n) => !envExampleNames.has(n)), [],
    'settings the server reads that .env.example does not list')
})

test('.env.example lists every setting of docs/configuration.md and of docker-compose.yml', () => {
  assert.ok(readmeSettingNames.length >= 15,
    `found only ${readmeSettingNames.length} rows in docs/configuration.md's settings tables`)
  assert.deepEqual(readmeSettingNames.filter((n) => !serverSettingNames.includes(n)), [],
    'docs/configuration.md documents settings the server does not read')
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

/** The body of `upstream NAME { ... }`. */
function upstreamBlock (name) {
  return nginxConf.match(new RegExp(`upstream\\s+${name}\\s*\\{([^}]*)\\}`))?.[1] ?? null
}

/** The `server` addresses of an upstream. */
function upstreamServers (name) {
  const block = upstreamBlock(name)
  assert.ok(block, `no upstream ${name} in deploy/nginx.conf`)
  return [...block.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1])
}

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

test('nginx example: round robin for WebSocket and the API, sticky by document for SSE and polling', () => {
  const rr = upstreamBlock('tandem')
  assert.ok(rr, 'no upstream tandem')
  assert.doesNotMatch(rr, /\b(hash|ip_hash|least_conn|random)\b/, 'upstream tandem must be round robin')
  const sticky = upstreamBlock('tandem_sticky')
  assert.ok(sticky, 'no upstream tandem_sticky')
  const hashed = sticky.match(/\bhash\s+\$(\w+)\s+consistent\s*;/)
  assert.ok(hashed, 'upstream tandem_sticky must hash (consistently) on a variable')
  assert.ok(upstreamServers('tandem').length >= 2, 'the example lists several instances')
  assert.deepEqual(upstreamServers('tandem_sticky'), upstreamServers('tandem'), 'both upstreams list the same instances')
  // the hashed variable is the document: the first path segment after /sse/ or /poll/
  const map = nginxConf.match(new RegExp(`map\\s+\\$uri\\s+\\$${hashed[1]}\\s*\\{([^}]*)\\}`))
  assert.ok(map, `no map from $uri to $${hashed[1]}`)
  assert.match(map[1], /\(\?:sse\|poll\)\/\(\?<(\w+)>\[\^\/\]\+\)/)
  const pass = (loc) => locationBlock(loc)?.match(/proxy_pass\s+http:\/\/(\w+)/)?.[1]
  assert.equal(pass('/ws/'), 'tandem')
  assert.equal(pass('= /hocuspocus'), 'tandem')
  assert.equal(pass('/'), 'tandem')
  assert.equal(pass('/sse/'), 'tandem_sticky')
  assert.equal(pass('/poll/'), 'tandem_sticky')
  const hp = locationBlock('= /hocuspocus')
  assert.match(hp, /proxy_set_header\s+Upgrade\s+\$http_upgrade/)
})

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
const nginxSkip = haveNginx && haveOpenssl ? false : 'nginx or openssl is not installed'

/**
 * deploy/nginx.conf made runnable in `dir`: a throwaway certificate for the Let's Encrypt
 * paths, the instances of the upstreams replaced by `instances` (host:port, in order of first
 * appearance), and, when `listen` is given, its two servers on those loopback ports. Returns
 * the path of a main config that includes it.
 */
function nginxSite (dir, { instances, listen }) {
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=tandem.test', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30000 })
  assert.equal(gen.status, 0, gen.stderr)
  const named = [...new Set(upstreamServers('tandem'))]
  assert.ok(named.length <= instances.length, `needs ${named.length} stand-in instances`)
  let site = nginxConf
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${cert};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${key};`)
    .replace(/^(\s*server\s+)([^\s;]+)/gm, (all, lead, addr) =>
      named.includes(addr) ? lead + instances[named.indexOf(addr)] : all)
  if (listen) {
    site = site
      .replace(/^\s*listen\s+\[::\].*$/gm, '')
      .replace(/^(\s*)listen\s+443\b[^;]*;/m, `$1listen 127.0.0.1:${listen.tls} ssl;`)
      .replace(/^(\s*)listen\s+80\b[^;]*;/m, `$1listen 127.0.0.1:${listen.plain};`)
  }
  writeFileSync(path.join(dir, 'tandem.conf'), site)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n')
  const main = path.join(dir, 'nginx.conf')
  writeFileSync(main, `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n${temp}\n  include ${dir}/tandem.conf;\n}\n`)
  return main
}

test('nginx -t accepts the example config', { skip: nginxSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-nginx-'))
  try {
    const main = nginxSite(dir, { instances: ['127.0.0.1:8080', '127.0.0.1:8081'] })
    const r = spawnSync('nginx', ['-t', '-e', 'stderr', '-p', dir, '-c', main], {
      encoding: 'utf8', timeout: 30000
    })
    assert.equal(r.status, 0, `nginx -t failed:\n${r.stdout}\n${r.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/**
 * A listening loopback socket on a port the OS picks, for nginx to inherit (its `NGINX`
 * variable names inherited descriptors): the port is never unbound between choosing it and
 * nginx serving on it, so no other process can take it meanwhile.
 */
function heldSocket () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port, fd: srv._handle.fd }))
  })
}

/**
 * A stand-in Tandem instance that answers every request with its own name, and keeps the
 * client-address headers each request came with (`seen`).
 */
function standIn (name) {
  return new Promise((resolve) => {
    const seen = []
    const srv = http.createServer((req, res) => {
      seen.push({ path: req.url, realIp: req.headers['x-real-ip'], forwarded: req.headers['x-forwarded-for'] })
      req.resume()
      req.on('end', () => res.end(name))
    })
    srv.listen(0, '127.0.0.1', () => resolve({ name, srv, seen, addr: `127.0.0.1:${srv.address().port}` }))
  })
}

test('nginx runs the example: WebSocket and the API round robin, SSE and polling sticky by document', {
  skip: nginxSkip, timeout: 60000
}, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-nginx-run-'))
  const instances = await Promise.all(['one', 'two'].map(standIn))
  let proc = null
  try {
    const held = [await heldSocket(), await heldSocket()]
    const listen = { tls: held[0].port, plain: held[1].port }
    const main = nginxSite(dir, { instances: instances.map((i) => i.addr), listen })
    // The two sockets become nginx's descriptors 3 and 4; this process then lets go of its
    // own copies, so only nginx accepts on them.
    proc = spawn('nginx', ['-e', 'stderr', '-p', dir, '-c', main, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe', held[0].fd, held[1].fd],
      env: { ...process.env, NGINX: '3;4;' }
    })
    for (const h of held) h.srv.close()
    let log = ''
    proc.stderr.on('data', (d) => { log += d })
    const exited = new Promise((resolve) => proc.once('exit', resolve))

    /** Which instance nginx sent the request to. */
    const via = (method, p) => new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: listen.tls, path: p, method, rejectUnauthorized: false,
        // a client that claims an address of its own
        headers: { host: 'tandem.example.com', 'x-forwarded-for': '203.0.113.66' },
        timeout: 10000
      }, (res) => {
        let body = ''
        res.on('data', (d) => { body += d })
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${method} ${p}: ${res.statusCode} ${body}`))))
      })
      req.on('error', reject)
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)))
      req.end(method === 'POST' ? 'x' : undefined)
    })

    // nginx is up once it answers (bounded: it may also fail to start)
    const deadline = Date.now() + 20000
    for (;;) {
      try { await via('GET', '/healthz'); break } catch (err) {
        const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(undefined), 50))])
        if (code !== undefined) assert.fail(`nginx exited (${code}):\n${log}`)
        if (Date.now() > deadline) assert.fail(`nginx did not answer: ${err.message}\n${log}`)
      }
    }

    for (const p of ['/ws/notes', '/hocuspocus', '/api/documents/notes/text']) {
      const seen = []
      for (let i = 0; i < 6; i++) seen.push(await via('GET', p))
      assert.deepEqual([...new Set(seen)].sort(), ['one', 'two'], `${p} should alternate, went to ${seen}`)
    }

    // Every request of an SSE or polling session, and of one document, reaches one instance.
    const home = new Map()
    for (let d = 0; d < 12; d++) {
      const doc = `doc-${d}`
      const seen = new Set()
      for (let round = 0; round < 2; round++) {
        for (const [method, p] of [['GET', `/sse/${doc}`], ['POST', `/sse/${doc}/s${round}`],
          ['DELETE', `/sse/${doc}/s${round}`], ['POST', `/poll/${doc}`], ['GET', `/poll/${doc}/s${round}?cursor=3`],
          ['POST', `/poll/${doc}/s${round}`]]) {
          seen.add(await via(method, p))
        }
      }
      assert.equal(seen.size, 1, `${doc} was spread over ${[...seen]}`)
      home.set(doc, [...seen][0])
    }
    assert.equal(new Set(home.values()).size, 2, `the documents should spread over both instances: ${[...home]}`)

    // Every location names the client as nginx saw it, right of anything the client claimed
    // (Tandem takes the right-most address that is not a trusted proxy).
    const requests = instances.flatMap((i) => i.seen)
    for (const p of ['/ws/', '/hocuspocus', '/api/', '/sse/', '/poll/']) {
      assert.ok(requests.some((r) => r.path.startsWith(p)), `no request to ${p} seen`)
    }
    for (const r of requests) {
      assert.equal(r.realIp, '127.0.0.1', `X-Real-IP of ${r.path}`)
      const list = (r.forwarded ?? '').split(',').map((a) => a.trim())
      assert.equal(list.at(-1), '127.0.0.1', `X-Forwarded-For of ${r.path}: ${r.forwarded}`)
    }
  } finally {
    if (proc && proc.exitCode === null) {
      const gone = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await gone
    }
    for (const i of instances) i.srv.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

// ---------------------------------------------------------------------------------------
// scripts/run.sh

test('run.sh rebuilds the web editor only when its sources changed', () => {
  // The real scripts and web sources in a scratch copy; npm and cargo are stubs that log what
  // they were asked (a build writes web/dist as the real one would).
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-runsh-'))
  try {
    cpSync(path.join(root, 'scripts'), path.join(dir, 'scripts'), { recursive: true })
    for (const f of ['src', 'public', 'index.html', 'package.json', 'package-lock.json', 'tsconfig.json', 'vite.config.ts']) {
      if (existsSync(path.join(root, 'web', f))) cpSync(path.join(root, 'web', f), path.join(dir, 'web', f), { recursive: true })
    }
    const bin = path.join(dir, 'stub-bin')
    const log = path.join(dir, 'calls.log')
    mkdirSync(bin)
    writeFileSync(path.join(bin, 'npm'), `#!/usr/bin/env bash
echo "npm $*" >>"$CALLS"
case "$*" in
  ci*) mkdir -p web/node_modules ;;
  *"run build"*) mkdir -p web/dist && echo built >web/dist/index.html ;;
esac
`, { mode: 0o755 })
    writeFileSync(path.join(bin, 'cargo'), '#!/usr/bin/env bash\necho "cargo $*" >>"$CALLS"\n', { mode: 0o755 })
    const run = () => {
      writeFileSync(log, '')
      const r = spawnSync('bash', [path.join(dir, 'scripts', 'run.sh')], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CALLS: log },
      })
      assert.equal(r.status, 0, r.stdout + r.stderr)
      return { out: r.stdout, calls: readFileSync(log, 'utf8') }
    }
    const builds = (calls) => calls.split('\n').filter((l) => /^npm run build\b/.test(l)).length

    const first = run()
    assert.equal(builds(first.calls), 1, first.calls)
    assert.match(first.calls, /^cargo run --release/m)
    const second = run()
    assert.equal(builds(second.calls), 0, second.calls)
    assert.match(second.out, /web editor is up to date/)
    // Tests are not part of the editor: changing one rebuilds nothing.
    writeFileSync(path.join(dir, 'web/src/pure.test.ts'), '\n// changed\n', { flag: 'a' })
    assert.equal(builds(run().calls), 0)
    writeFileSync(path.join(dir, 'web/src/main.ts'), '\n// changed\n', { flag: 'a' })
    assert.equal(builds(run().calls), 1, 'a changed source must rebuild the editor')
    assert.equal(builds(run().calls), 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// Behind the nginx of profile `cluster`, browsers reach the instances by nginx's server_name,
// which nginx passes on in Host: an open server (no TANDEM_SECRET) answers only names it is
// told (TANDEM_ALLOWED_HOSTS, against DNS rebinding), so .env.example must suggest that name.
test('.env.example suggests the nginx server_name for TANDEM_ALLOWED_HOSTS', () => {
  const name = /server_name\s+([^\s;]+)/.exec(nginxConf)?.[1]
  assert.ok(name, 'no server_name in deploy/nginx.conf')
  assert.match(nginxConf, /proxy_set_header\s+Host\s+\$host\s*;/)
  const line = /^#?\s*TANDEM_ALLOWED_HOSTS=(.*)$/m.exec(envExample)
  assert.ok(line, '.env.example must show TANDEM_ALLOWED_HOSTS')
  assert.ok(line[1].split(',').includes(name), `TANDEM_ALLOWED_HOSTS should suggest ${name}`)
})
