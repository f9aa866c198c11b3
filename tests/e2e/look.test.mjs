// Look and feel: distinct presence colours, the phone layout (history as a sheet), dark mode
// following the system, the "not found" page (and its 404), an unknown ?transport= reported,
// and downloads of the text and the Yjs state.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as Y from 'yjs'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged } from './harness.mjs'

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

// The editor's palette and name hash (web/src/colors.ts), to find names that collide.
const PALETTE_SIZE = 12
function paletteIndex (s) {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) }
  return (h >>> 0) % PALETTE_SIZE
}

test('people present get different colours even when their names map to the same one, in the editor and the list', { timeout: 60000 }, async () => {
  const names = ['Ann']
  for (let i = 0; names.length < 3; i++) if (paletteIndex(`User ${i}`) === paletteIndex('Ann')) names.push(`User ${i}`)
  const created = await fetch(`${server.url}/api/documents`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'colours' }) })
  assert.equal(created.status, 201)
  const url = `${server.url}/d/colours`
  const people = []
  for (const n of names) people.push(await openAs(browser, n, url))
  await waitConverged(people.map((p) => p.page))
  for (const { page } of people) {
    await page.waitForFunction(() => {
      const colours = Array.from(document.querySelectorAll('#presence li')).map((li) => li.dataset.color)
      return colours.length === 3 && new Set(colours).size === 3
    })
  }
  // Everyone agrees on everyone's colour.
  const seen = await Promise.all(people.map(({ page }) => page.$$eval('#presence li', (lis) =>
    lis.map((li) => [li.querySelector('.pname').textContent.replace(' (you)', ''), li.dataset.color]).sort())))
  assert.deepEqual(seen[1], seen[0])
  assert.deepEqual(seen[2], seen[0])

  // The document list paints each person's chip in the colour of their cursor in the editor.
  for (const { page } of people) await page.click('.cm-content')
  const list = await browser.newContext()
  const lp = await list.newPage()
  await lp.goto(`${server.url}/`)
  await lp.waitForFunction(() => document.querySelectorAll('tr[data-doc="colours"] .chip').length === 3)
  const chips = Object.fromEntries(await lp.$$eval('tr[data-doc="colours"] .chip', (cs) =>
    cs.map((c) => [c.textContent, c.style.getPropertyValue('--c')])))
  assert.deepEqual(Object.keys(chips).sort(), [...names].sort())
  assert.deepEqual(Object.fromEntries(seen[0]), chips)
  const rgb = (hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`
  for (const { page } of people) {
    // Remote carets carry their owner's name; each is drawn in that person's chip colour.
    await page.waitForFunction(() => document.querySelectorAll('.cm-ySelectionCaret').length === 2)
    const carets = await page.$$eval('.cm-ySelectionCaret', (cs) =>
      cs.map((c) => [c.querySelector('.cm-ySelectionInfo').textContent, getComputedStyle(c).backgroundColor]))
    for (const [name, color] of carets) assert.equal(color, rgb(chips[name]), `${name}'s cursor`)
  }
  await list.close()
  for (const p of people) await p.context.close()
})

test('phone width: name field shown, buttons on one row, history as a sheet', { timeout: 60000 }, async () => {
  const { context, page } = await openAs(browser, 'Phone', `${server.url}/d/phone`, { width: 390, height: 844 })
  await waitForStatus(page, 'connected')
  assert.equal(await page.isVisible('#user-name'), true)
  const boxes = await page.$$eval('.doc-actions .buttons > *', (els) => els.map((e) => e.getBoundingClientRect().toJSON()))
  assert.equal(new Set(boxes.map((b) => Math.round(b.top))).size, 1, `buttons wrap: ${JSON.stringify(boxes)}`)
  for (const b of boxes) assert.ok(b.right <= 390, `button outside the screen: ${JSON.stringify(b)}`)
  const history = await page.$eval('#toggle-history', (e) => ({ h: e.getBoundingClientRect().height, lh: parseFloat(getComputedStyle(e).lineHeight) }))
  assert.ok(history.h < 2 * history.lh, `History button wraps: ${JSON.stringify(history)}`)

  await page.click('#toggle-history')
  const sheet = await page.$eval('#history-panel', (e) => ({ position: getComputedStyle(e).position, bottom: e.getBoundingClientRect().bottom, width: e.getBoundingClientRect().width }))
  assert.equal(sheet.position, 'fixed')
  assert.equal(Math.round(sheet.bottom), 844)
  assert.equal(Math.round(sheet.width), 390)
  await page.click('#close-history')
  assert.equal(await page.isVisible('#history-panel'), false)
  await context.close()
})

test('dark mode follows the system setting', { timeout: 60000 }, async () => {
  const luminance = (page) => page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\d+/g).map(Number)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
  })
  for (const [scheme, dark] of [['dark', true], ['light', false]]) {
    const context = await browser.newContext({ colorScheme: scheme })
    const page = await context.newPage()
    await page.goto(`${server.url}/d/dark`)
    await page.waitForSelector('.cm-content')
    const body = await luminance(page)
    const editorBg = await page.$eval('.editor', (e) => getComputedStyle(e).backgroundColor)
    assert.equal(body < 0.2, dark, `${scheme}: page luminance ${body}, editor ${editorBg}`)
    await context.close()
  }
})

test('unknown pages: a "not found" page, and 404 from the server', { timeout: 60000 }, async () => {
  for (const path of ['/no-such-page', '/documents/x', '/d']) {
    const res = await fetch(`${server.url}${path}`)
    assert.equal(res.status, 404, path)
  }
  const api = await fetch(`${server.url}/api/no-such-endpoint`)
  assert.equal(api.status, 404)
  assert.match((await api.json()).error, /not found/)
  for (const path of ['/', '/d/some-doc']) assert.equal((await fetch(`${server.url}${path}`)).status, 200, path)

  const context = await browser.newContext()
  const page = await context.newPage()
  const res = await page.goto(`${server.url}/no-such-page`)
  assert.equal(res.status(), 404)
  await page.waitForSelector('#not-found')
  assert.equal(await page.textContent('#not-found h1'), 'Page not found')
  assert.equal(await page.$('.doc-table'), null)
  await context.close()
})

test('an unknown ?transport= is reported, and the editor still connects', { timeout: 60000 }, async () => {
  const { context, page } = await openAs(browser, 'T', `${server.url}/d/transport?transport=carrier-pigeon`)
  await page.waitForSelector('#editor-message:not([hidden])')
  assert.match(await page.textContent('#editor-message'), /Unknown transport “carrier-pigeon”/)
  await waitForStatus(page, 'connected', 'websocket')
  await context.close()
})

test('download as .txt, .md and Yjs state', { timeout: 60000 }, async () => {
  const context = await browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  await page.goto(`${server.url}/d/export-me`)
  await page.waitForSelector('.cm-content')
  await page.click('.cm-content')
  const text = '# Plan\nÉtape 1 — ☕'
  await page.keyboard.type(text)
  for (const [kind, ext] of [['txt', 'txt'], ['md', 'md'], ['yjs', 'yjs']]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export').then(() => page.click(`#export-menu [data-value=${kind}]`))])
    assert.equal(download.suggestedFilename(), `export-me.${ext}`)
    const bytes = readFileSync(await download.path())
    if (kind === 'yjs') {
      const doc = new Y.Doc()
      Y.applyUpdate(doc, new Uint8Array(bytes))
      assert.equal(doc.getText('content').toString(), text)
    } else {
      assert.equal(bytes.toString('utf8'), text)
    }
  }
  await context.close()
})

test('on an open server the share dialog gives the address and says why there is no view-only link', { timeout: 60000 }, async () => {
  const { context, page } = await openAs(browser, 'Sharer', `${server.url}/d/open-share`)
  await waitForStatus(page, 'connected')
  await page.click('#share')
  await page.waitForSelector('#share-dialog[open]')
  await page.click('#share-edit-copy')
  await page.waitForFunction(() => document.getElementById('share-edit-url').value !== '')
  assert.equal(await page.inputValue('#share-edit-url'), `${server.url}/d/open-share`)
  assert.equal(await page.isDisabled('#share-view-copy'), true)
  assert.match(await page.textContent('#share-view'), /View-only links need a server with access tokens/)
  await context.close()
})
