// Documents people can name, find and remove: titles of any text with derived unique names,
// rename in place, search and sort in the list, delete with confirmation, and a live "who is
// here" that drops a closed SSE or polling tab at once.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { startServer, launchBrowser, openAs, waitForStatus } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

async function api (path, init = {}) {
  const res = await fetch(`${server.url}${path}`, {
    ...init, headers: { 'Content-Type': 'application/json', ...init.headers },
  })
  return { status: res.status, body: res.status === 204 ? null : await res.json() }
}

async function openList () {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } })
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error('[list] page error:', err.message))
  await page.goto(`${server.url}/`)
  return { context, page }
}

const rowTitles = (page) => page.$$eval('.doc-table tbody tr .doc-link', (as) => as.map((a) => a.textContent))

test('create from a title, derived unique names, rename in place', { timeout: 60000 }, async () => {
  const { context, page } = await openList()
  await page.fill('#new-doc-title', 'Meeting notes')
  await page.click('.create-form button[type=submit]')
  await page.waitForURL(/\/d\/meeting-notes$/)
  await page.waitForFunction(() => document.getElementById('doc-title')?.textContent === 'Meeting notes')
  assert.equal(await page.title(), 'Meeting notes · Tandem')

  await page.goto(`${server.url}/`)
  await page.fill('#new-doc-title', 'Meeting notes')
  await page.click('.create-form button[type=submit]')
  await page.waitForURL(/\/d\/meeting-notes-2$/)
  await waitForStatus(page, 'connected')

  // Rename in place: the name (and so every link) stays, the title changes everywhere.
  const title = 'Café ☕ 会议 notes'
  await page.click('#doc-title')
  await page.fill('#title-input', title)
  await page.press('#title-input', 'Enter')
  await page.waitForFunction((t) => document.title === `${t} · Tandem`, title)
  assert.equal((await api('/api/documents/meeting-notes-2')).body.title, title)
  await page.reload()
  await page.waitForFunction((t) => document.getElementById('doc-title')?.textContent === t, title)

  await page.goto(`${server.url}/`)
  await page.waitForSelector('tr[data-doc="meeting-notes-2"]')
  assert.equal(await page.textContent('tr[data-doc="meeting-notes-2"] .doc-link'), title)
  await context.close()
})

test('list: search, sort, delete with confirmation', { timeout: 60000 }, async () => {
  for (const t of ['Zebra plans', 'alpha list', 'Émile draft']) {
    assert.equal((await api('/api/documents', { method: 'POST', body: JSON.stringify({ title: t }) })).status, 201)
  }
  // Editing "alpha list" makes it the most recently edited.
  const ydoc = new Y.Doc()
  ydoc.getText('content').insert(0, 'edited last')
  const upd = await fetch(`${server.url}/api/documents/alpha-list/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(ydoc),
  })
  assert.ok(upd.ok, `update: HTTP ${upd.status}`)

  const { context, page } = await openList()
  await page.waitForSelector('tr[data-doc="emile-draft"]')
  assert.equal((await rowTitles(page))[0], 'alpha list')

  await page.selectOption('#doc-sort', 'title')
  const byTitle = await rowTitles(page)
  const sorted = [...byTitle].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }))
  assert.deepEqual(byTitle, sorted)
  assert.ok(byTitle.indexOf('alpha list') < byTitle.indexOf('Zebra plans'))

  // Accent- and case-insensitive search over titles.
  await page.fill('#doc-search', 'emile')
  assert.deepEqual(await rowTitles(page), ['Émile draft'])
  await page.fill('#doc-search', 'nothing like this')
  assert.equal(await page.isVisible('#no-match'), true)
  await page.fill('#doc-search', '')

  // Declining the confirmation keeps the document; accepting deletes it for everyone.
  page.once('dialog', (d) => d.dismiss())
  await page.click('tr[data-doc="zebra-plans"] button.delete')
  assert.equal((await api('/api/documents/zebra-plans')).status, 200)
  page.once('dialog', (d) => { assert.match(d.message(), /Delete “Zebra plans”/); d.accept() })
  await page.click('tr[data-doc="zebra-plans"] button.delete')
  await page.waitForSelector('tr[data-doc="zebra-plans"]', { state: 'detached' })
  assert.equal((await api('/api/documents/zebra-plans')).status, 404)
  await context.close()
})

for (const transport of ['sse', 'poll']) {
  test(`who is here drops a closed ${transport} tab at once`, { timeout: 60000 }, async () => {
    const doc = `presence-${transport}`
    assert.equal((await api('/api/documents', { method: 'POST', body: JSON.stringify({ name: doc }) })).status, 201)
    const visitor = await openAs(browser, `Visitor ${transport}`, `${server.url}/d/${doc}?transport=${transport}`)
    await waitForStatus(visitor.page, 'connected', transport)
    const { context, page } = await openList()
    const row = `tr[data-doc="${doc}"]`
    await page.waitForFunction(([sel, name]) => {
      const r = document.querySelector(sel)
      return r && r.querySelector('.who').textContent.includes(name) && r.querySelector('.num').textContent === '1'
    }, [row, `Visitor ${transport}`])
    await visitor.page.close()
    // The session ends with the tab (the server would otherwise keep it for --session-idle-secs, 60 s).
    await page.waitForFunction((sel) => {
      const r = document.querySelector(sel)
      return r && r.querySelector('.num').textContent === '0' && !r.querySelector('.who .chip')
    }, row, { timeout: 20000 })
    await visitor.context.close()
    await context.close()
  })
}
