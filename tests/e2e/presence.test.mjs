// Presence and the list: a rename shows in the other open editors at once, two people with
// the same name are told apart, the list's times do not wrap, and the phone header keeps its
// "Your name" label.
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

async function create (name, title) {
  const res = await fetch(`${server.url}/api/documents`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, title }),
  })
  assert.equal(res.status, 201)
}

test('a rename reaches the other open editors', { timeout: 60000 }, async () => {
  await create('renamed', 'Old title')
  const ann = await openAs(browser, 'Ann', `${server.url}/d/renamed`)
  const bob = await openAs(browser, 'Bob', `${server.url}/d/renamed`)
  await waitForStatus(ann.page, 'connected')
  await waitForStatus(bob.page, 'connected')
  await bob.page.waitForFunction(() => document.getElementById('doc-title').textContent === 'Old title')
  await ann.page.click('#doc-title')
  await ann.page.fill('#title-input', 'New title')
  await ann.page.press('#title-input', 'Enter')
  await bob.page.waitForFunction(() => document.getElementById('doc-title').textContent === 'New title', null, { timeout: 10000 })
  assert.equal(await bob.page.title(), 'New title · Tandem')
  await ann.context.close()
  await bob.context.close()
})

test('two people with the same name are told apart', { timeout: 60000 }, async () => {
  const first = await openAs(browser, 'Sam', `${server.url}/d/twins`)
  const second = await openAs(browser, 'Sam', `${server.url}/d/twins`)
  for (const o of [first, second]) {
    await o.page.waitForFunction(() => document.querySelectorAll('#presence li').length === 2, null, { timeout: 15000 })
  }
  const names = (page) => page.$$eval('#presence .pname', (els) => els.map((el) => el.textContent.replace(' (you)', '')).sort())
  const seenByFirst = await names(first.page)
  assert.notEqual(seenByFirst[0], seenByFirst[1], `both shown as ${seenByFirst[0]}`)
  assert.deepEqual(await names(second.page), seenByFirst, 'both editors number them the same way')
  await first.context.close()
  await second.context.close()
})

test('list times stay on one line; the phone header keeps its label', { timeout: 60000 }, async () => {
  await create('a-document-with-quite-a-long-name-for-the-list', 'A document with quite a long title that takes the room of the other columns')
  const context = await browser.newContext({ viewport: { width: 640, height: 700 } })
  const page = await context.newPage()
  await page.goto(`${server.url}/`)
  await page.waitForSelector('.doc-table td.when')
  const lines = await page.$eval('.doc-table td.when', (td) => {
    const range = document.createRange()
    range.selectNodeContents(td)
    return new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size
  })
  assert.equal(lines, 1, 'the time wraps')
  await page.setViewportSize({ width: 390, height: 844 })
  assert.equal(await page.isVisible('.whoami-label'), true, 'the phone header hides "Your name"')
  await context.close()
})
