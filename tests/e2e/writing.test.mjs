// Plain documents as a writing surface: Markdown styled as it is typed (the text stays the
// Markdown characters, for every client and the API), a proportional font, spellcheck, no
// line numbers unless asked for (remembered); the .md download is that Markdown. Ctrl+F opens
// find and replace, which reaches text far below the visible lines and whose replacement
// reaches the other person.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as Y from 'yjs'
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
const serverText = async (doc) => (await fetch(`${server.url}/api/documents/${doc}/text`)).text()

/** Writes a plain document's text through the API (a Yjs update), as another client would. */
async function putText (doc, text) {
  const ydoc = new Y.Doc()
  ydoc.getText('content').insert(0, text)
  const res = await fetch(`${server.url}/api/documents/${doc}/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(ydoc),
  })
  assert.ok(res.ok, `update: HTTP ${res.status}`)
}

test('Markdown is styled as it is typed and stays Markdown; proportional font, spellcheck, no line numbers by default', { timeout: 60000 }, async () => {
  const doc = 'writing-surface'
  const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  await page.click('.cm-content')
  const text = '# Weekly sync\n\nSome *emphasis* and **strong** words, `code` and a [link](https://example.com).\n\n- first\n- second\n\n> quoted'
  // Typed line by line: Enter continues a list or quote as it would for a person.
  await page.keyboard.type('# Weekly sync')
  await page.keyboard.insertText(text.slice('# Weekly sync'.length))
  await waitSaved(page)
  assert.equal(await serverText(doc), text, 'the stored text is not the typed Markdown')
  assert.equal(await editorText(page), text)

  const look = await page.evaluate(() => {
    const content = document.querySelector('.cm-content')
    // The heading's text, not its `#` (which is kept quiet).
    const size = (sel) => { const el = content.querySelector(sel + ':not(.md-mark)'); return el ? parseFloat(getComputedStyle(el).fontSize) : 0 }
    const style = (sel, prop) => { const el = content.querySelector(sel + ':not(.md-mark)'); return el ? getComputedStyle(el)[prop] : null }
    return {
      body: parseFloat(getComputedStyle(content).fontSize),
      h1: size('.md-h1'),
      h1Weight: style('.md-h1', 'fontWeight'),
      em: style('.md-em', 'fontStyle'),
      strong: style('.md-strong', 'fontWeight'),
      code: style('.md-code', 'fontFamily'),
      link: style('.md-link', 'textDecorationLine'),
      quote: !!content.querySelector('.md-quote'),
      list: !!content.querySelector('.md-list'),
      font: getComputedStyle(content).fontFamily,
      spellcheck: content.getAttribute('spellcheck'),
      gutters: !!document.querySelector('.cm-lineNumbers'),
    }
  })
  assert.ok(look.h1 > look.body * 1.3, `heading not larger: ${look.h1} vs ${look.body}`)
  assert.ok(Number(look.h1Weight) >= 700)
  assert.equal(look.em, 'italic')
  assert.ok(Number(look.strong) >= 700)
  assert.match(look.code, /mono/i)
  assert.match(look.link, /underline/)
  assert.ok(look.quote && look.list, 'quotes and lists are not styled')
  assert.doesNotMatch(look.font, /mono/i, `monospace writing surface: ${look.font}`)
  assert.equal(look.spellcheck, 'true')
  assert.equal(look.gutters, false, 'line numbers shown by default')

  // Line numbers are a setting, remembered in this browser.
  await page.check('#setting-line-numbers')
  await page.waitForSelector('.cm-lineNumbers')
  await page.reload()
  await page.waitForSelector('.cm-lineNumbers')
  assert.equal(await page.isChecked('#setting-line-numbers'), true)
  await page.uncheck('#setting-line-numbers')
  await page.waitForSelector('.cm-lineNumbers', { state: 'detached' })

  // The .md download is the Markdown, with its extension and type.
  await page.click('#export')
  const [md] = await Promise.all([page.waitForEvent('download'), page.click('#export-menu [data-value=md]')])
  assert.equal(md.suggestedFilename(), `${doc}.md`)
  assert.equal(readFileSync(await md.path(), 'utf8'), text)
  await context.close()
})

test('Ctrl+F finds text far below the visible lines; replace reaches the other person', { timeout: 90000 }, async () => {
  const doc = 'find-replace'
  const lines = []
  for (let i = 1; i <= 400; i++) lines.push(`Line ${i} of a long document.`)
  lines.push('The needle is here at the end.')
  await putText(doc, lines.join('\n'))
  const ann = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  const bob = await openAs(browser, 'Bob', `${server.url}/d/${doc}`)
  // The editors hold only the lines in view: both start with the first line.
  for (const p of [ann.page, bob.page]) {
    await p.waitForFunction(() => document.querySelector('.cm-content').textContent.includes('Line 1 of a long'))
  }
  const { page } = ann
  // The page holds only the visible lines: the browser's own find could not get there.
  assert.equal(await page.evaluate(() => document.querySelector('.cm-content').textContent.includes('needle')), false)

  await page.click('.cm-content')
  await page.keyboard.press('Control+f')
  await page.waitForSelector('.cm-search input[name=search]')
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'search')
  await page.keyboard.type('needle')
  await page.keyboard.press('Enter')
  await page.waitForFunction(() => document.querySelector('.cm-content').textContent.includes('The needle is here'))
  const inView = await page.evaluate(() => {
    const line = Array.from(document.querySelectorAll('.cm-line')).find((l) => l.textContent.includes('The needle'))
    const r = line.getBoundingClientRect()
    return r.top >= 0 && r.bottom <= innerHeight
  })
  assert.ok(inView, 'the match is not scrolled into view')

  await page.fill('.cm-search input[name=replace]', 'thread')
  await page.click('.cm-search button[name=replaceAll]')
  await waitSaved(page)
  assert.match(await serverText(doc), /The thread is here at the end\.$/)
  await bob.page.click('.cm-content')
  await bob.page.keyboard.press('Control+End')
  await bob.page.waitForFunction(() => document.querySelector('.cm-content').textContent.includes('The thread is here at the end.'))
  await ann.context.close()
  await bob.context.close()
})
