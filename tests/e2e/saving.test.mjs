// Saving and offline: the badge says "Saved" only once the server has the text, says
// "Offline" with a reconnect countdown when it cannot reach the server, and edits typed
// offline survive closing the tab (IndexedDB) and reach the server when it is back.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { startServer, startProxy, launchBrowser, openAs, editorText, waitForStatus } from './harness.mjs'

let server
let proxy
let browser
let dataDir

after(async () => {
  await browser?.close()
  await server?.stop()
  await proxy?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

const saveState = (page) => page.$eval('#conn-status', (e) => e.dataset.save)
const waitSave = (page, state, timeout = 20000) =>
  page.waitForFunction((s) => document.getElementById('conn-status')?.dataset.save === s, state, { timeout })

async function serverText (url, doc) {
  const res = await fetch(`${url}/api/documents/${doc}/text`)
  return res.ok ? res.text() : null
}

/** Number of updates y-indexeddb has stored for a document in this browser context. */
function storedUpdates (page, doc) {
  return page.evaluate((name) => new Promise((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onerror = () => reject(req.error)
    req.onsuccess = () => {
      const db = req.result
      const count = db.transaction('updates').objectStore('updates').count()
      count.onsuccess = () => { db.close(); resolve(count.result) }
      count.onerror = () => reject(count.error)
    }
  }), `tandem:${doc}`)
}

test('offline edits survive a closed tab and reach the server when it is back', { timeout: 90000 }, async () => {
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-offline-'))
  server = await startServer([], { dataDir })
  // The browser's address, held by the test across the server's restart.
  proxy = await startProxy(server.url)
  const url = proxy.url
  browser = await launchBrowser()
  const doc = 'offline-notes'

  const { context, page } = await openAs(browser, 'Ann', `${url}/d/${doc}`)
  await waitSave(page, 'saved')
  await page.click('.cm-content')
  await page.keyboard.type('Before. ')
  // "Saved" is only shown once the server's echo came back: the server has the text by then.
  await waitSave(page, 'saved')
  assert.equal(await serverText(url, doc), 'Before. ')
  assert.equal(await page.textContent('#save-status'), 'Saved')

  // A paused server keeps the connection open but echoes nothing: the edit is "Saving…" until
  // the server, running again, commits and echoes it.
  process.kill(server.pid, 'SIGSTOP')
  try {
    await page.keyboard.type('Paused. ')
    await waitSave(page, 'saving')
    assert.equal(await page.textContent('#save-status'), 'Saving…')
    assert.equal(await page.$eval('#conn-status', (e) => e.dataset.status), 'connected')
  } finally {
    process.kill(server.pid, 'SIGCONT')
  }
  await waitSave(page, 'saved')
  assert.equal(await serverText(url, doc), 'Before. Paused. ')

  await server.stop()
  await waitSave(page, 'offline')
  assert.equal(await page.textContent('#save-status'), 'Offline: your changes are kept in this browser')
  await page.waitForFunction(() => /^Reconnecting in \d+ s$/.test(document.getElementById('retry-status')?.textContent ?? ''))

  const before = await storedUpdates(page, doc)
  const offline = 'Typed offline.'
  await page.keyboard.type(offline)
  assert.equal(await saveState(page), 'offline')
  // Each keystroke is one update; wait until the browser stored all of them, then close.
  await page.waitForFunction(async ([name, want]) => {
    const n = await new Promise((resolve) => {
      const req = indexedDB.open(name)
      req.onsuccess = () => {
        const c = req.result.transaction('updates').objectStore('updates').count()
        c.onsuccess = () => { req.result.close(); resolve(c.result) }
      }
    })
    return n >= want
  }, [`tandem:${doc}`, before + offline.length], { polling: 100 })
  await page.close()

  server = await startServer([], { dataDir })
  proxy.retarget(server.url)
  assert.equal(await serverText(server.url, doc), 'Before. Paused. ', 'the server never saw the offline edits')
  const reopened = await context.newPage()
  await reopened.goto(`${url}/d/${doc}`)
  await reopened.waitForSelector('.cm-content')
  await waitForStatus(reopened, 'connected')
  await waitSave(reopened, 'saved')
  assert.equal(await editorText(reopened), `Before. Paused. ${offline}`)
  assert.equal(await serverText(server.url, doc), `Before. Paused. ${offline}`)
  await context.close()
})
