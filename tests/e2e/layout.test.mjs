// What stays in view: clicking a version (the oldest of seven) shows its preview on screen,
// on a laptop (1280x800) and a phone (390x844); the toolbar (save badge, Share, History)
// stays visible at the end of a long document.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { startServer, launchBrowser, openAs } from './harness.mjs'

let server
let browser

before(async () => {
  // Seven named versions in a row: no wait between two.
  server = await startServer(['--named-version-interval-secs', '0'])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

/** Adds text through the API (a Yjs update from another client). */
async function addText (doc, text) {
  const ydoc = new Y.Doc()
  ydoc.getText('content').insert(0, text)
  const res = await fetch(`${server.url}/api/documents/${doc}/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(ydoc),
  })
  assert.ok(res.ok, `update: HTTP ${res.status}`)
}

async function nameVersion (doc, label) {
  const res = await fetch(`${server.url}/api/documents/${doc}/versions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ label }),
  })
  assert.ok(res.ok, `version: HTTP ${res.status}`)
}

/** Where an element is against the window: fully visible, and not under another element. */
function placement (page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect()
    const x = Math.min(Math.max(r.left + 5, 0), innerWidth - 1)
    const y = Math.min(Math.max(r.top + 5, 0), innerHeight - 1)
    const top = document.elementFromPoint(x, y)
    return { top: r.top, bottom: r.bottom, height: innerHeight, onTop: !!top && (el === top || el.contains(top)) }
  })
}

for (const [device, viewport] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
  test(`the oldest of seven versions opens its preview in view (${device})`, { timeout: 90000 }, async () => {
    const doc = `history-view-${device}`
    for (let i = 1; i <= 7; i++) {
      await addText(doc, `Paragraph ${i}: ${'words '.repeat(30)}\n`)
      await nameVersion(doc, `Draft ${i}`)
    }
    const versions = (await (await fetch(`${server.url}/api/documents/${doc}/versions`)).json()).versions
    assert.equal(versions.length, 7)
    const oldest = versions[versions.length - 1].version
    const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`, viewport)
    await page.click('#toggle-history')
    await page.waitForSelector(`#version-list li[data-version="${oldest}"]`)
    await page.click(`#version-list li[data-version="${oldest}"] button`)
    await page.waitForSelector('#version-preview .preview-head')
    await page.waitForFunction(() => document.querySelector('#version-preview .version-text')?.textContent.includes('Paragraph 1'))
    // Scrolling may be smooth: the preview's head ends up on screen.
    let p
    for (let i = 0; i < 40; i++) {
      p = await placement(page, '#version-preview .preview-head')
      if (p.top >= 0 && p.bottom <= p.height && p.onTop) break
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(p.top >= 0 && p.bottom <= p.height, `the preview is off screen: ${JSON.stringify(p)}`)
    assert.ok(p.onTop, 'the preview is covered')
    const restore = await placement(page, '#version-preview button.restore')
    assert.ok(restore.bottom <= restore.height && restore.onTop, `Restore is off screen: ${JSON.stringify(restore)}`)
    await context.close()
  })
}

test('the toolbar stays in view at the end of a long document', { timeout: 60000 }, async () => {
  const doc = 'long-toolbar'
  const lines = []
  for (let i = 1; i <= 300; i++) lines.push(`Line ${i} of a long document.`)
  await addText(doc, lines.join('\n'))
  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const { context, page } = await openAs(browser, 'Ann', `${server.url}/d/${doc}`, viewport)
    await page.click('.cm-content')
    await page.keyboard.press('Control+End')
    await page.waitForFunction(() => document.querySelector('.cm-content').textContent.includes('Line 300 of'))
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight))
    assert.ok(await page.evaluate(() => scrollY > 1000), 'the page did not scroll')
    for (const sel of ['#conn-status', '#share', '#toggle-history', '#export']) {
      const p = await placement(page, sel)
      assert.ok(p.top >= 0 && p.bottom <= p.height && p.onTop, `${sel} is out of view (${viewport.width}px): ${JSON.stringify(p)}`)
    }
    await context.close()
  }
})
