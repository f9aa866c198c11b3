// Automated accessibility check: axe-core (the npm package) run in Chromium on the document
// list, the editor, the open History panel and the share dialog, in the light and the dark
// theme and at phone width; no serious or critical violation (WCAG 2 A and AA rules).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as Y from 'yjs'
import { startServer, launchBrowser } from './harness.mjs'

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

let server
let browser

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
  // A document with some Markdown and a version, so every part of the page has content.
  const ydoc = new Y.Doc()
  ydoc.getText('content').insert(0, '# Weekly sync\n\nSome *emphasis*, a [link](https://example.com) and `code`.\n\n- one\n- two\n\n> quoted')
  const res = await fetch(`${server.url}/api/documents/a11y-notes/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(ydoc),
  })
  assert.ok(res.ok)
  const v = await fetch(`${server.url}/api/documents/a11y-notes/versions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ label: 'First draft' }),
  })
  assert.ok(v.ok)
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

/** Runs axe on the page; returns the serious and critical violations, described. */
async function audit (page) {
  // The page's Content-Security-Policy allows no inline script: the context bypasses it.
  await page.addScriptTag({ content: axeSource })
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')} — ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n    ')}`)
  })
  return violations
}

for (const [theme, viewport] of [['light', { width: 1280, height: 800 }], ['dark', { width: 1280, height: 800 }], ['light', { width: 390, height: 844 }]]) {
  test(`no serious or critical violation: list, editor, history, share (${theme}, ${viewport.width}px)`, { timeout: 90000 }, async () => {
    const context = await browser.newContext({ viewport, colorScheme: theme, bypassCSP: true })
    await context.addInitScript(() => { try { localStorage.setItem('tandem:name', 'Ann') } catch {} })
    const page = await context.newPage()
    const found = {}

    await page.goto(`${server.url}/`)
    await page.waitForSelector('tr[data-doc="a11y-notes"]')
    found.list = await audit(page)

    await page.goto(`${server.url}/d/a11y-notes`)
    await page.waitForSelector('.cm-content .md-h1')
    await page.waitForFunction(() => document.getElementById('conn-status')?.dataset.save === 'saved')
    found.editor = await audit(page)

    await page.click('#export')
    await page.waitForSelector('#export-menu [role=menuitem]')
    found.downloadMenu = await audit(page)
    await page.keyboard.press('Escape')

    await page.click('#toggle-history')
    await page.waitForSelector('#version-list li[data-version]:not([data-version=current]) button')
    await page.click('#version-list li[data-version]:not([data-version=current]) button')
    await page.waitForSelector('#version-preview .version-text')
    found.history = await audit(page)
    await page.click('#close-history')

    await page.click('#share')
    await page.waitForSelector('dialog[open]')
    found.share = await audit(page)

    const report = Object.entries(found).filter(([, v]) => v.length > 0).map(([where, v]) => `${where}:\n  ${v.join('\n  ')}`).join('\n')
    assert.equal(report, '', `axe found serious or critical violations:\n${report}`)
    await context.close()
  })
}
