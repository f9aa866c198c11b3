// .env.example, the file a new user copies to .env: it lists every setting the server reads
// and suggests what the cluster profile's nginx needs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

import { root, read, composeText, services, envOf, nginxConf } from './lib.mjs'
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
// flags clap hides from --help (`hide = true`: test-only switches) are not user settings. One
// `#[arg(...)]` attribute may span several lines (rustfmt splits long ones), so each is read whole.
const serverSettingNames = [...new Set(rustFiles(path.join(root, 'crates', 'server', 'src'))
  .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/#\[arg\(([^\]]*)\)\]/g)]
    .map((m) => m[1])
    .filter((attr) => !/\bhide\s*=\s*true\b/.test(attr))
    .flatMap((attr) => [...attr.matchAll(/\benv\s*=\s*"([A-Z][A-Z0-9_]*)"/g)].map((e) => e[1]))))].sort()

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
