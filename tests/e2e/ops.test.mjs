// Running it: /metrics lists every family on a fresh server, and logs written to a pipe
// carry no terminal colour codes.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './harness.mjs'

let server

before(async () => {
  // Info level so that start-up writes log lines; stderr is a pipe here.
  server = await startServer([], { env: { RUST_LOG: 'info' } })
})

after(async () => {
  await server?.stop()
})

const FAMILIES = [
  ['tandem_connections', 'gauge'], ['tandem_connections_opened_total', 'counter'],
  ['tandem_documents_loaded', 'gauge'], ['tandem_updates_received_total', 'counter'],
  ['tandem_updates_relayed_total', 'counter'], ['tandem_updates_persisted_total', 'counter'],
  ['tandem_bytes_in_total', 'counter'], ['tandem_bytes_out_total', 'counter'],
  ['tandem_persist_seconds', 'histogram'], ['tandem_slow_client_disconnects_total', 'counter'],
  ['tandem_database_errors_total', 'counter'], ['tandem_unknown_messages_total', 'counter'],
  ['tandem_invalid_messages_total', 'counter'], ['tandem_auth_refusals_total', 'counter'],
  ['tandem_unwritten_bytes', 'gauge'], ['tandem_compactions_total', 'counter'],
  ['tandem_versions_created_total', 'counter'], ['tandem_update_bursts_merged_total', 'counter'],
]

test('a fresh server lists every metric family, at zero', async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  for (const [name, type] of FAMILIES) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name)
  }
  for (const t of ['websocket', 'sse', 'poll']) {
    assert.match(text, new RegExp(`^tandem_connections\\{transport="${t}"\\} 0$`, 'm'))
  }
  assert.match(text, /^tandem_versions_created_total\{kind="auto"\} 0$/m)
  assert.match(text, /^tandem_persist_seconds_count 0$/m)
})

test('logs to a pipe have no ANSI colour codes', async () => {
  assert.match(server.log(), /tandem listening/)
  assert.doesNotMatch(server.log(), /\x1b\[/)
})
