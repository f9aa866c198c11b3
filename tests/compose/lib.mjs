// What the static checks of the self-hosting files share: the repository root, reading a file
// of it, whether an external validator is installed, and docker-compose.yml and
// deploy/nginx.conf parsed (each test file checks one of them, some look at both).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const read = (rel) => readFileSync(path.join(root, rel), 'utf8')

/** Whether `cmd args` runs and succeeds (a validator that is not installed is skipped). */
export function have (cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20000 })
  return r.status === 0
}

export const composeText = read('docker-compose.yml')
export const composeDoc = YAML.parseDocument(composeText, { uniqueKeys: true })
export const compose = composeDoc.toJS()
export const services = compose?.services ?? {}

/** environment: as a map, whichever of the two compose syntaxes is used. */
export function envOf (service) {
  const env = service?.environment ?? {}
  if (!Array.isArray(env)) return env
  return Object.fromEntries(env.map((kv) => {
    const i = kv.indexOf('=')
    return i < 0 ? [kv, undefined] : [kv.slice(0, i), kv.slice(i + 1)]
  }))
}

export const nginxConf = read('deploy/nginx.conf')

/** The body of `upstream NAME { ... }`. */
export function upstreamBlock (name) {
  return nginxConf.match(new RegExp(`upstream\\s+${name}\\s*\\{([^}]*)\\}`))?.[1] ?? null
}

/** The `server` addresses of an upstream. */
export function upstreamServers (name) {
  const block = upstreamBlock(name)
  assert.ok(block, `no upstream ${name} in deploy/nginx.conf`)
  return [...block.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1])
}
