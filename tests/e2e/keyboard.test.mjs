// The editor from the keyboard (WAI-ARIA authoring practices): Tab leaves the editor unless the
// person turns Tab indentation on (remembered, and "Esc then Tab" still leaves), a visible
// hint says so; Download is a menu button (ArrowDown opens, never downloads; Enter and Space
// choose; Esc closes); the title is renamed with Enter or F2; Esc closes History, the menu
// and the share dialog and gives the focus back to their button.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, launchBrowser, openAs, editorText } from './harness.mjs'

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

const waitSaved = (page) => page.waitForFunction(() => document.getElementById('conn-status')?.dataset.save === 'saved', null, { timeout: 20000 })
const active = (page) => page.evaluate(() => {
  const a = document.activeElement
  return { id: a?.id ?? '', inEditor: !!a?.closest('.cm-editor'), role: a?.getAttribute('role') ?? '', text: a?.textContent ?? '' }
})
const serverText = async (doc) => (await fetch(`${server.url}/api/documents/${doc}/text`)).text()

test('Tab leaves the editor unless Tab indentation is turned on (remembered); the hint says how to leave', { timeout: 60000 }, async () => {
  const doc = 'kbd-tab'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.click('.cm-content')
  await page.keyboard.type('Item')
  await page.keyboard.press('Home')
  await page.keyboard.press('Tab')
  const after = await active(page)
  assert.equal(after.inEditor, false, 'Tab stayed in the editor')
  await waitSaved(page)
  assert.equal(await serverText(doc), 'Item', 'Tab changed the shared text')
  assert.match(await page.textContent('#keyboard-hint'), /Tab leaves the editor/)
  assert.equal(await page.isVisible('#keyboard-hint'), true)
  assert.equal(await page.isChecked('#setting-tab-indents'), false)

  // Turned on, Tab indents; Esc then Tab still leaves; the choice survives a reload.
  await page.check('#setting-tab-indents')
  await page.reload()
  await page.waitForSelector('.cm-content')
  assert.equal(await page.isChecked('#setting-tab-indents'), true, 'the Tab setting was forgotten')
  assert.match(await page.textContent('#keyboard-hint'), /Esc then Tab leaves the editor/)
  await page.click('.cm-content')
  await page.keyboard.press('Home')
  await page.keyboard.press('Tab')
  assert.equal((await active(page)).inEditor, true)
  assert.match(await editorText(page), /^\s+Item$/)
  await page.keyboard.press('Escape')
  await page.keyboard.press('Tab')
  assert.equal((await active(page)).inEditor, false, 'Esc then Tab did not leave the editor')
  await page.uncheck('#setting-tab-indents')
  await context.close()
})

test('Download is a menu button: ArrowDown opens it without downloading, Enter and Space choose, Esc closes', { timeout: 60000 }, async () => {
  const doc = 'kbd-download'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.click('.cm-content')
  await page.keyboard.type('# Notes')
  await waitSaved(page)
  const downloads = []
  page.on('download', (d) => downloads.push(d))

  await page.focus('#export')
  assert.equal(await page.getAttribute('#export', 'aria-haspopup'), 'menu')
  await page.keyboard.press('ArrowDown')
  assert.equal(await page.getAttribute('#export', 'aria-expanded'), 'true')
  let a = await active(page)
  assert.equal(a.role, 'menuitem')
  assert.match(a.text, /Markdown/)
  await page.keyboard.press('ArrowDown')
  assert.match((await active(page)).text, /Plain text/)
  await page.keyboard.press('Escape')
  assert.equal(await page.getAttribute('#export', 'aria-expanded'), 'false')
  assert.equal((await active(page)).id, 'export')
  assert.equal(await page.isVisible('#export-menu'), false)

  const [md] = await Promise.all([page.waitForEvent('download'), (async () => {
    await page.keyboard.press('Enter')
    assert.equal((await active(page)).role, 'menuitem')
    await page.keyboard.press('Enter')
  })()])
  assert.equal(md.suggestedFilename(), `${doc}.md`)
  assert.equal((await active(page)).id, 'export', 'the focus did not return to the button')
  const [txt] = await Promise.all([page.waitForEvent('download'), (async () => {
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press(' ')
  })()])
  assert.equal(txt.suggestedFilename(), `${doc}.txt`)
  // Only the two chosen downloads happened: opening the menu downloads nothing.
  assert.equal(downloads.length, 2)
  assert.equal(await page.$$eval('#export-menu [role=menuitem]', (els) => els.length), 3)
  await context.close()
})

test('the title is renamed from the keyboard: focusable, Enter or F2 edits, Enter saves, Esc cancels', { timeout: 60000 }, async () => {
  const doc = 'kbd-title'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.focus('a.back')
  await page.keyboard.press('Tab')
  assert.equal((await active(page)).id, 'doc-title', 'the title is not reachable with Tab')
  assert.match(await page.$eval('#doc-title', (e) => e.getAttribute('title') + ' ' + document.getElementById(e.getAttribute('aria-describedby'))?.textContent), /rename/i)
  await page.keyboard.press('Enter')
  assert.equal((await active(page)).id, 'title-input')
  assert.equal(await page.getAttribute('#title-input', 'aria-label'), 'Title')
  await page.keyboard.press('Control+a')
  await page.keyboard.type('Weekly sync')
  await page.keyboard.press('Enter')
  await page.waitForFunction(() => document.getElementById('doc-title')?.textContent === 'Weekly sync')
  assert.equal((await active(page)).id, 'doc-title')
  for (let i = 0; i < 50; i++) {
    const d = await (await fetch(`${server.url}/api/documents/${doc}`)).json()
    if (d.title === 'Weekly sync') break
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.equal((await (await fetch(`${server.url}/api/documents/${doc}`)).json()).title, 'Weekly sync')

  await page.keyboard.press('F2')
  assert.equal((await active(page)).id, 'title-input')
  await page.keyboard.type(' (draft)')
  await page.keyboard.press('Escape')
  assert.equal(await page.textContent('#doc-title'), 'Weekly sync')
  assert.equal((await active(page)).id, 'doc-title')
  assert.equal((await (await fetch(`${server.url}/api/documents/${doc}`)).json()).title, 'Weekly sync')
  await context.close()
})

test('Esc closes History and the share dialog and gives the focus back to their button', { timeout: 60000 }, async () => {
  const doc = 'kbd-panels'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.focus('#toggle-history')
  await page.keyboard.press('Enter')
  await page.waitForSelector('#history-panel', { state: 'visible' })
  await page.focus('#version-label')
  await page.keyboard.press('Escape')
  await page.waitForSelector('#history-panel', { state: 'hidden' })
  assert.equal((await active(page)).id, 'toggle-history')
  assert.equal(await page.getAttribute('#toggle-history', 'aria-expanded'), 'false')

  await page.keyboard.press('Enter')
  await page.waitForSelector('#history-panel', { state: 'visible' })
  await page.waitForSelector('#version-current')
  await page.focus('#version-current')
  // A refresh of the list (on open, after naming a version, or the Refresh button) keeps the
  // keyboard user's place: the new list's item has the focus, so Esc still closes.
  await page.evaluate(() => {
    document.getElementById('version-current').dataset.old = '1'
    const refresh = [...document.querySelectorAll('#history-panel button')].find((b) => b.textContent === 'Refresh')
    refresh.click()
  })
  await page.waitForFunction(() => document.getElementById('version-current')?.dataset.old === undefined)
  assert.equal((await active(page)).id, 'version-current')
  await page.keyboard.press('Escape')
  await page.waitForSelector('#history-panel', { state: 'hidden' })
  assert.equal((await active(page)).id, 'toggle-history')

  await page.focus('#share')
  await page.keyboard.press('Enter')
  await page.waitForSelector('dialog[open]')
  await page.keyboard.press('Escape')
  await page.waitForSelector('dialog[open]', { state: 'detached' })
  assert.equal((await active(page)).id, 'share')
  await context.close()
})
