// Offline reopen and a frozen server. A document opened before opens again while the server is
// down (the service worker keeps the app shell, IndexedDB the text); what is typed then reaches
// the server once it is back. A frozen server (SIGSTOP: the socket stays open, nothing comes
// back) is reported as offline within seconds of an edit, not after the transports' 30 s,
// and the edit is saved once it runs again.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startServer, launchBrowser, openAs, editorText } from './harness.mjs'

let server
let browser
let dataDir

after(async () => {
  await browser?.close()
  await server?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

const waitSave = (page, state, timeout = 20000) =>
  page.waitForFunction((s) => document.getElementById('conn-status')?.dataset.save === s, state, { timeout })
const serverText = async (url, doc) => (await fetch(`${url}/api/documents/${doc}/text`)).text()
// Resolves once every update y-indexeddb has begun storing for the document is committed: a
// read-write transaction on the same store starts only after the ones created before it end.
// Closing the tab right after the last keystroke can otherwise drop that keystroke's write
// (the server has it, but the offline copy this test reopens does not).
const flushLocalCopy = (page, doc) => page.evaluate((name) => new Promise((resolve, reject) => {
  const req = indexedDB.open(name)
  req.onerror = () => reject(req.error)
  req.onsuccess = () => {
    const tx = req.result.transaction('updates', 'readwrite')
    tx.oncomplete = () => { req.result.close(); resolve() }
    tx.onerror = () => reject(tx.error)
  }
}), `tandem:${doc}`)

test('a document opened before reopens with the server down, and its offline edits arrive later', { timeout: 120000 }, async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-reopen-'))
  server = await startServer([], { dataDir })
  const url = server.url
  const listen = url.replace(/^http:\/\//, '')
  browser = await launchBrowser()
  const doc = 'reopen-offline'

  const { context, page } = await openAs(browser, 'Ann', `${url}/d/${doc}`)
  await page.click('.cm-content')
  await page.keyboard.type('Written online. ')
  await waitSave(page, 'saved')
  assert.equal(await serverText(url, doc), 'Written online. ')
  // The worker takes over this page once it has cached the shell.
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null && navigator.serviceWorker?.controller !== undefined, null, { timeout: 20000 })
  const shell = await page.evaluate(async () => {
    const keys = await caches.keys()
    return keys.length
  })
  assert.ok(shell > 0, 'nothing cached')
  await flushLocalCopy(page, doc)
  await page.close()

  await server.stop()
  // Reopened with the server gone: the editor, with the text from this browser.
  const again = await context.newPage()
  await again.goto(`${url}/d/${doc}`)
  await again.waitForSelector('.cm-content')
  await again.waitForFunction(() => document.querySelector('.cm-content')?.textContent.includes('Written online.'))
  await waitSave(again, 'offline')
  await again.click('.cm-content')
  await again.keyboard.press('Control+End')
  await again.keyboard.type('Written offline.')
  assert.equal(await editorText(again), 'Written online. Written offline.')
  await flushLocalCopy(again, doc)
  await again.close()

  // Back, same address and data: a reopened tab sends what was typed offline.
  server = await startServer([], { dataDir, listen })
  const back = await context.newPage()
  await back.goto(`${url}/d/${doc}`)
  await back.waitForSelector('.cm-content')
  await waitSave(back, 'saved', 30000)
  assert.equal(await serverText(url, doc), 'Written online. Written offline.')

  // The API and sync never come from the cache: a new server's answers are seen at once.
  const cachedApi = await back.evaluate(async () => {
    const found = []
    for (const key of await caches.keys()) {
      for (const req of await (await caches.open(key)).keys()) {
        if (/\/(api|ws|sse|poll)\//.test(new URL(req.url).pathname)) found.push(req.url)
      }
    }
    return found
  })
  assert.deepEqual(cachedApi, [])
  await context.close()
})

test('a frozen server shows Offline within seconds of an edit; the edit is saved once it runs again', { timeout: 90000 }, async () => {
  browser ??= await launchBrowser()
  const frozen = await startServer()
  try {
    const doc = 'frozen-server'
    const { context, page } = await openAs(browser, 'Ann', `${frozen.url}/d/${doc}`)
    await page.click('.cm-content')
    await page.keyboard.type('Before. ')
    await waitSave(page, 'saved')
    process.kill(frozen.pid, 'SIGSTOP')
    try {
      await page.keyboard.type('While frozen.')
      await waitSave(page, 'saving')
      // The transports' own timeouts take 30 s; the editor's response deadline is 5 s.
      await waitSave(page, 'offline', 15000)
      assert.equal(await page.textContent('#save-status'), 'Offline: your changes are kept in this browser')
    } finally {
      process.kill(frozen.pid, 'SIGCONT')
    }
    await waitSave(page, 'saved', 30000)
    assert.equal(await serverText(frozen.url, doc), 'Before. While frozen.')
    await context.close()
  } finally {
    await frozen.stop()
  }
})

test('edits typed just before an offline tab closes arrive even if IndexedDB never stored them', { timeout: 90000 }, async () => {
  browser ??= await launchBrowser()
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-unsaved-'))
  let srv = await startServer([], { dataDir: dir })
  const url = srv.url
  const listen = url.replace(/^http:\/\//, '')
  try {
    const doc = 'unsaved-bytes'
    const { context, page } = await openAs(browser, 'Ann', `${url}/d/${doc}`)
    await page.click('.cm-content')
    await page.keyboard.type('Saved first. ')
    await waitSave(page, 'saved')
    await srv.stop()
    await waitSave(page, 'offline', 30000)
    // IndexedDB writes are asynchronous: a tab closed at once can lose the last ones. Make
    // that certain here: from now on this tab's IndexedDB writes never complete.
    await page.evaluate(() => {
      const never = () => ({})
      IDBObjectStore.prototype.add = never
      IDBObjectStore.prototype.put = never
    })
    await page.keyboard.type('Typed offline, then closed.')
    assert.equal(await editorText(page), 'Saved first. Typed offline, then closed.')
    await page.close()

    srv = await startServer([], { dataDir: dir, listen })
    const back = await context.newPage()
    await back.goto(`${url}/d/${doc}`)
    await back.waitForSelector('.cm-content')
    await waitSave(back, 'saved', 30000)
    assert.equal(await serverText(url, doc), 'Saved first. Typed offline, then closed.')
    await context.close()
  } finally {
    await srv.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})
