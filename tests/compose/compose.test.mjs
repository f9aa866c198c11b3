// Static checks of docker-compose.yml, its default services and its `cluster` profile. Nothing
// here needs Docker: the compose file is parsed and checked for what a working deployment
// depends on; when `docker-compose` (or the `docker compose` plugin) is installed, its own
// validator runs as well. deploy/nginx.conf is checked in nginx.test.mjs, .env.example in
// env-example.test.mjs, scripts/run.sh in run-script.test.mjs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'

import {
  root, read, have, composeText, composeDoc, compose, services, envOf, nginxConf, upstreamServers
} from './lib.mjs'

// ---------------------------------------------------------------------------------------
// docker-compose.yml

const envExample = read('.env.example')

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
// External validators, when installed

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
