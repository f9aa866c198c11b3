// Durability: an edit that another client has seen is in the database, so it survives the
// server being killed outright (SIGKILL, no shutdown hook) and restarted on the same storage.
// Runs against SQLite (the default), and against PostgreSQL when TANDEM_TEST_PG_URL (an admin
// URL, as scripts/test.sh provides) and psql are available.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  startServer, freshDataDir, connectClient, waitSynced, waitFor, uniqueDocName, httpGet, docPath,
  postgresDatabase as createPostgresDatabase
} from '../lib/harness.mjs'

const cleanups = []
const servers = []
const clients = []

after(async () => {
  for (const c of clients) c.destroy()
  for (const s of servers) await s.stop()
  for (const fn of cleanups.reverse()) fn()
})

/** A throwaway PostgreSQL database for this file, dropped at the end. */
function postgresDatabase () {
  const db = createPostgresDatabase('interop')
  if (db.drop) cleanups.push(db.drop)
  return db
}

const data = freshDataDir('persist')
cleanups.push(data.cleanup)
const pg = postgresDatabase()

const backends = [
  { name: 'sqlite', env: {} },
  { name: 'postgres', env: pg.url ? { DATABASE_URL: pg.url } : null, skip: pg.skip, error: pg.error }
]

for (const backend of backends) {
  const opts = { timeout: 60000, skip: backend.skip ?? false }

  async function boot () {
    if (backend.error) throw new Error(backend.error)
    const s = await startServer({ dataDir: data.dir, env: backend.env })
    servers.push(s)
    return s
  }

  function open (server, doc) {
    const c = connectClient(server, doc)
    clients.push(c)
    return c
  }

  test(`${backend.name}: content survives SIGKILL and restart`, opts, async () => {
    const doc = uniqueDocName('persist')
    const expected = 'Durable text: héllo 中文\nsecond line'

    let server = await boot()
    const writer = open(server, doc)
    const observer = open(server, doc)
    await Promise.all([waitSynced(writer), waitSynced(observer)])

    writer.text.insert(0, expected)
    // The server puts an update in the database before any other client sees it, so once the
    // observer has the text (and the writer is still synced) the edit is durable.
    await waitFor('observer to receive the edit', () => observer.toString() === expected, {
      timeoutMs: 10000, describe: () => `observer has ${JSON.stringify(observer.toString())}\n${server.logs()}`
    })
    assert.equal(writer.provider.synced, true)

    // Stop the clients first so they do not reconnect (and re-send the edit) to the new server:
    // the restarted server must have it from its own storage.
    writer.destroy()
    observer.destroy()
    const exit = await server.kill()
    assert.equal(exit.signal, 'SIGKILL')

    server = await boot()
    const reader = open(server, doc)
    await waitSynced(reader, 15000, 'reader sync after restart')
    await waitFor('reader to get the text back after restart', () => reader.toString() === expected, {
      timeoutMs: 10000, describe: () => `reader has ${JSON.stringify(reader.toString())}\n${server.logs()}`
    })

    const res = await httpGet(`${server.url}/api/documents/${docPath(doc)}/text`)
    assert.equal(res.status, 200)
    assert.equal(res.body, expected)
  })

  test(`${backend.name}: many small edits made before a crash are all kept`, opts, async () => {
    const doc = uniqueDocName('persist-many')
    let server = await boot()
    const writer = open(server, doc)
    const observer = open(server, doc)
    await Promise.all([waitSynced(writer), waitSynced(observer)])

    // Keystroke-sized updates, each its own message, like a person typing.
    const typed = 'The quick brown fox jumps over the lazy dog. '.repeat(4)
    for (const ch of typed) writer.text.insert(writer.text.length, ch)
    await waitFor('observer to receive every keystroke', () => observer.toString() === typed, {
      timeoutMs: 15000, describe: () => `observer has ${observer.toString().length}/${typed.length} chars\n${server.logs()}`
    })

    writer.destroy()
    observer.destroy()
    await server.kill()

    server = await boot()
    const reader = open(server, doc)
    await waitSynced(reader, 15000, 'reader sync after restart')
    await waitFor('all keystrokes after restart', () => reader.toString() === typed, {
      timeoutMs: 10000, describe: () => `reader has ${reader.toString().length}/${typed.length} chars\n${server.logs()}`
    })
  })
}
