// Two people edit one document over WebSocket: convergence, cursors, persistence, history.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import {
  startServer, launchBrowser, openAs, editorText, waitForStatus, waitConverged, ensureArtifactsDir,
} from './harness.mjs'

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

async function sideBySide (pages, file) {
  const shots = await Promise.all(pages.map((p) => p.screenshot()))
  const ctx = await browser.newContext({ viewport: { width: 1820, height: 720 } })
  const page = await ctx.newPage()
  const imgs = shots.map((b) => `<img src="data:image/png;base64,${b.toString('base64')}">`).join('')
  await page.setContent(`<body style="margin:0;display:flex;gap:20px;background:#333;padding:10px">${imgs}</body>`)
  await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete))
  await page.screenshot({ path: file, fullPage: true })
  await ctx.close()
}

test('two editors converge, see each other, survive reload and restore history', { timeout: 75000 }, async () => {
  const doc = 'e2e-shared'
  // Alice creates the document through the list page.
  const alice = await (async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } })
    await context.addInitScript(() => localStorage.setItem('tandem:name', 'Alice'))
    const page = await context.newPage()
    page.on('dialog', (d) => d.accept())
    page.on('pageerror', (err) => console.error('[Alice] page error:', err.message))
    await page.goto(server.url + '/')
    // client-side validation shows a message for an empty title before anything is sent
    await page.fill('#new-doc-title', '   ')
    await page.click('.create-form button[type=submit]')
    await page.waitForSelector('#create-error:not([hidden])')
    // the title is the name here, so the derived name is the same
    await page.fill('#new-doc-title', doc)
    await page.click('.create-form button[type=submit]')
    await page.waitForURL(`**/d/${doc}`)
    await page.waitForSelector('.cm-content')
    return { context, page }
  })()
  const bob = await openAs(browser, 'Bob', `${server.url}/d/${doc}`)
  await waitForStatus(alice.page, 'connected', 'websocket')
  await waitForStatus(bob.page, 'connected', 'websocket')

  // Both type at the same time.
  await alice.page.click('.cm-content')
  await bob.page.click('.cm-content')
  await Promise.all([
    alice.page.keyboard.type('Alice writes this line. ', { delay: 15 }),
    bob.page.keyboard.type('Bob adds his words. ', { delay: 15 }),
  ])
  const merged = await waitConverged([alice.page, bob.page],
    (t) => t.includes('Alice writes this line.') && t.includes('Bob adds his words.'))
  assert.ok(merged.length >= 'Alice writes this line. Bob adds his words. '.length)

  // Each sees the other's cursor label and presence entry.
  await alice.page.waitForFunction(() => Array.from(document.querySelectorAll('.cm-ySelectionInfo'))
    .some((e) => e.textContent.includes('Bob')), null, { timeout: 15000 })
  await bob.page.waitForFunction(() => Array.from(document.querySelectorAll('.cm-ySelectionInfo'))
    .some((e) => e.textContent.includes('Alice')), null, { timeout: 15000 })
  assert.match(await alice.page.textContent('#presence'), /Bob/)
  assert.match(await bob.page.textContent('#presence'), /Alice/)

  await sideBySide([alice.page, bob.page], path.join(ensureArtifactsDir(), 'two-editors.png'))

  // A reload keeps the text (it comes back from the server).
  await bob.page.reload()
  await bob.page.waitForSelector('.cm-content')
  await waitForStatus(bob.page, 'connected', 'websocket')
  await waitConverged([alice.page, bob.page], (t) => t === merged)

  // The document list shows it with the people in it.
  const lister = await browser.newContext()
  const listPage = await lister.newPage()
  await listPage.goto(server.url + '/')
  await listPage.waitForSelector(`tr[data-doc="${doc}"]`, { timeout: 15000 })
  const people = () => listPage.$$eval(`tr[data-doc="${doc}"] .chip`, (chips) => chips.map((c) => c.textContent).sort())
  await listPage.waitForFunction((d) => {
    const chips = Array.from(document.querySelectorAll(`tr[data-doc="${d}"] .chip`), (c) => c.textContent)
    return chips.includes('Alice') && chips.includes('Bob')
  }, doc, { timeout: 15000 }).catch(async (e) => { throw new Error(`list shows ${JSON.stringify(await people())}: ${e.message}`) })
  assert.deepEqual(await people(), ['Alice', 'Bob'])
  assert.equal(await listPage.textContent(`tr[data-doc="${doc}"] td.num`), '2')
  await lister.close()

  // Name a version through the history panel.
  await alice.page.click('#toggle-history')
  await alice.page.waitForSelector('#history-panel:not([hidden])')
  await alice.page.fill('#version-label', 'first draft')
  await alice.page.click('#name-version')
  const item = alice.page.locator('#version-list li', { hasText: 'first draft' })
  await item.first().waitFor({ timeout: 15000 })

  // Change the text, then restore the named version.
  await alice.page.click('.cm-content')
  await alice.page.keyboard.press('Control+End')
  await alice.page.keyboard.type('THIS WILL BE UNDONE BY RESTORE')
  await waitConverged([alice.page, bob.page], (t) => t.includes('THIS WILL BE UNDONE'))

  await item.first().locator('button').click()
  await alice.page.waitForSelector('#version-preview .version-text')
  assert.equal((await alice.page.textContent('#version-preview .version-text')).trim(), merged.trim())
  // the diff against now shows the added line
  await alice.page.click('#version-preview button.compare')
  await alice.page.waitForSelector('#version-preview .diff .d-add, #version-preview .diff .d-del')
  await alice.page.click('#version-preview button.restore')
  const restored = await waitConverged([alice.page, bob.page], (t) => !t.includes('THIS WILL BE UNDONE'))
  assert.equal(restored, merged)
  await alice.page.locator('#version-list li', { hasText: /restore/i }).first().waitFor({ timeout: 15000 })

  assert.equal(await editorText(bob.page), merged)
  await alice.context.close()
  await bob.context.close()
})
