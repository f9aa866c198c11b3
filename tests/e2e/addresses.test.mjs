// Addresses: a Cyrillic or Greek title gets a readable Latin name, a mistyped address offers
// to create the document rather than quietly making one, `/d/` alone is not found; and the
// list keeps the sort chosen last.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
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

test('non-Latin titles get transliterated names', { timeout: 60000 }, async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${server.url}/`)
  await page.fill('#new-doc-title', 'Заметки')
  await page.click('.create-form button[type=submit]')
  await page.waitForURL('**/d/zametki')
  await page.waitForSelector('.cm-content')
  const res = await fetch(`${server.url}/api/documents`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Σημειώσεις' }),
  })
  assert.equal((await res.json()).name, 'simeioseis')
  await context.close()
})

test('a mistyped address offers to create the document', { timeout: 60000 }, async () => {
  const doc = 'no-such-thing'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.waitForSelector('#missing-doc', { timeout: 15000 })
  assert.match(await page.textContent('#missing-doc'), /There is no document named “no-such-thing”/)
  await waitForStatus(page, 'connected')
  const listed = async () => (await (await fetch(`${server.url}/api/documents`)).json()).documents.map((d) => d.name)
  assert.equal((await listed()).includes(doc), false, 'visiting made the document')

  await page.click('#create-missing')
  await page.waitForSelector('#missing-doc', { state: 'detached', timeout: 15000 })
  assert.equal((await listed()).includes(doc), true)
  // Known documents have no such offer.
  await page.reload()
  await page.waitForSelector('.cm-content')
  await waitForStatus(page, 'connected')
  assert.equal(await page.isVisible('#missing-doc'), false)
  await context.close()
})

test('/d/ alone is not found', async () => {
  const res = await fetch(`${server.url}/d/`)
  assert.equal(res.status, 404)
})

test('the list keeps the sort chosen last', { timeout: 60000 }, async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${server.url}/`)
  await page.waitForSelector('#doc-sort')
  assert.equal(await page.inputValue('#doc-sort'), 'edited')
  await page.selectOption('#doc-sort', 'title')
  await page.reload()
  await page.waitForSelector('#doc-sort')
  assert.equal(await page.inputValue('#doc-sort'), 'title')
  await context.close()
})
