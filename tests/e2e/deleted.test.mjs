// A deleted document stays deleted: editors that have it open are told (over WebSocket, SSE
// and long polling), offered their copy as a download, and the copy is removed from the
// browser; a browser that kept a copy of it while closed neither recreates it nor writes it
// into a new document under the same name.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged, editorText } from './harness.mjs'

let server
let browser

const api = (path, init = {}) => fetch(`${server.url}/api/documents${path}`, {
  ...init, headers: { 'Content-Type': 'application/json' },
})

async function create (doc) {
  const res = await api('', { method: 'POST', body: JSON.stringify({ name: doc }) })
  assert.equal(res.status, 201)
  return (await res.json()).id
}

async function waitSaved (page) {
  await page.waitForFunction(() => document.getElementById('conn-status')?.dataset.save === 'saved', null, { timeout: 20000 })
}

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('open editors are told the document was deleted, over every transport', { timeout: 90000 }, async () => {
  const doc = 'doomed'
  await create(doc)
  const pages = []
  for (const [name, transport] of [['Ann', 'websocket'], ['Sam', 'sse'], ['Pat', 'poll']]) {
    const o = await openAs(browser, name, `${server.url}/d/${doc}?transport=${transport}`)
    await waitForStatus(o.page, 'connected', transport)
    pages.push(o)
  }
  const ann = pages[0].page
  await ann.click('.cm-content')
  await ann.keyboard.type('Plans nobody should lose')
  await waitConverged(pages.map((o) => o.page), (t) => t === 'Plans nobody should lose')
  for (const o of pages) await waitSaved(o.page)

  assert.equal((await api(`/${doc}`, { method: 'DELETE' })).status, 204)
  for (const o of pages) {
    await o.page.waitForSelector('#deleted-doc', { timeout: 20000 })
    assert.equal(await o.page.textContent('#deleted-doc h1'), 'This document was deleted')
  }
  const [file] = await Promise.all([ann.waitForEvent('download'), ann.click('#download-local-copy')])
  assert.equal(readFileSync(await file.path(), 'utf8'), 'Plans nobody should lose')

  // Nobody's copy brought it back: not the live editors, not a reload of one of them.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  assert.equal((await api(`/${doc}`)).status, 404)
  await ann.reload()
  await ann.waitForSelector('#missing-doc')
  assert.equal(await editorText(ann), '')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  // Open (so the API shows it as loaded) but not stored: it is not in the list.
  const listed = (await (await api('')).json()).documents.map((d) => d.name)
  assert.equal(listed.includes(doc), false, 'the reloaded editor recreated the document')
  for (const o of pages) await o.context.close()
})

test('a copy kept while closed does not write itself into a new document of that name', { timeout: 90000 }, async () => {
  const doc = 'phoenix'
  const first = await create(doc)
  const { context, page } = await openAs(browser, 'Carol', `${server.url}/d/${doc}`)
  await waitForStatus(page, 'connected')
  await page.click('.cm-content')
  await page.keyboard.type('Old text of the first phoenix')
  await waitSaved(page)
  await page.close() // the context (and its IndexedDB copy) stays

  assert.equal((await api(`/${doc}`, { method: 'DELETE' })).status, 204)
  const second = await create(doc)
  assert.notEqual(second, first, 'a new document under the same name has a new identity')

  const reopened = await context.newPage()
  await reopened.goto(`${server.url}/d/${doc}`)
  await reopened.waitForSelector('#deleted-doc', { timeout: 20000 })
  assert.match(await reopened.textContent('#deleted-doc'), /was deleted/)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  assert.equal(await (await api(`/${doc}/text`)).text(), '', 'the stale copy reached the new document')

  // The copy is gone from the browser: the next visit is a plain editor on the new document.
  await reopened.reload()
  await reopened.waitForSelector('.cm-content')
  await waitForStatus(reopened, 'connected')
  assert.equal(await editorText(reopened), '')
  assert.equal(await reopened.isVisible('#deleted-doc'), false)
  await context.close()
})
