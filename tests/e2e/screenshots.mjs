// Refreshes the screenshots in docs/screenshots (shown in the README): the list and the editor
// with two people and the history open, on a desktop and a phone, in light and dark mode; the
// plain editor's writing surface (Markdown styled as typed, find and replace open); the admin
// sign-in of a server with tokens; the rich editor (screenshots-rich.mjs); and the pages an
// expired link and a deleted document end on (screenshots-ends.mjs).
// Run with `npm run screenshots --prefix tests/e2e` after `npm run build --prefix web`.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { startServer, launchBrowser, openAs, repoRoot, waitForStatus, waitConverged } from './harness.mjs'
import { richScreenshots } from './screenshots-rich.mjs'
import { endScreenshots } from './screenshots-ends.mjs'

// `node screenshots.mjs rich` refreshes only the rich editor's.
const onlyRich = process.argv[2] === 'rich'

const outDir = path.join(repoRoot, 'docs', 'screenshots')
mkdirSync(outDir, { recursive: true })

const server = await startServer(['--version-idle-secs', '1'])
const browser = await launchBrowser()
const post = (p, body) => fetch(`${server.url}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
try {
  await richScreenshots(server, browser, outDir)
  if (!onlyRich) await plainScreenshots()
  if (!onlyRich) await endScreenshots(browser, outDir)
  console.log(`screenshots written to ${outDir}`)
} finally {
  await browser.close()
  await server.stop()
}

async function plainScreenshots () {
  for (const title of ['Meeting notes', 'Roadmap 2027', 'Café menu ☕', 'Équipe: été 2027 ☀']) await post('/api/documents', { title })

  const url = `${server.url}/d/meeting-notes`
  const ann = await openAs(browser, 'Ann', url, { width: 1280, height: 800 })
  const bob = await openAs(browser, 'Bob', url, { width: 1280, height: 800 })
  await waitForStatus(ann.page, 'connected')
  await ann.page.click('.cm-content')
  // Inserted rather than typed: Enter in a list would continue it (as it does for a person).
  await ann.page.keyboard.insertText('# Meeting notes, Thursday\n\n- Ship the **share dialog**\n- Offline editing: *done*\n')
  await waitConverged([ann.page, bob.page], (t) => t.includes('Offline editing'))
  await bob.page.click('.cm-content')
  await bob.page.keyboard.press('Control+End')
  await bob.page.keyboard.insertText('- Dark mode follows the system\n')
  await waitConverged([ann.page, bob.page], (t) => t.includes('Dark mode'))
  // Wait for the automatic version (editing paused), so the history shows its authors.
  for (let i = 0; i < 100; i++) {
    const { versions } = await (await fetch(`${server.url}/api/documents/meeting-notes/versions`)).json()
    if (versions.length > 0) break
    await new Promise((r) => setTimeout(r, 200))
  }
  await bob.page.keyboard.type('- Next: ')

  for (const scheme of ['light', 'dark']) {
    for (const [device, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: device === 'phone' ? 2 : 1 })
      await context.addInitScript(() => localStorage.setItem('tandem:name', 'Cleo'))
      const page = await context.newPage()
      await page.goto(`${server.url}/`)
      await page.waitForSelector('tr[data-doc="meeting-notes"] .chip')
      await page.screenshot({ path: path.join(outDir, `list-${device}-${scheme}.png`) })
      await page.goto(url)
      await waitForStatus(page, 'connected')
      await page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved')
      await page.waitForFunction(() => document.querySelectorAll('#presence li').length === 3)
      await page.click('#toggle-history')
      await page.waitForSelector('#version-list li[data-version="1"]')
      await page.screenshot({ path: path.join(outDir, `editor-${device}-${scheme}.png`) })
      await context.close()
    }
  }
  await writingScreenshots()
  // The admin sign-in that a server with tokens shows on its list page.
  const tokenServer = await startServer(['--secret', 'screenshots-secret-0123456789abcdef', '--admin-key', 'screenshots-admin'])
  try {
    for (const [scheme, device, viewport] of [['light', 'desktop', { width: 1280, height: 800 }], ['dark', 'phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: device === 'phone' ? 2 : 1 })
      await context.addInitScript(() => localStorage.setItem('tandem:name', 'Cleo'))
      const page = await context.newPage()
      await page.goto(`${tokenServer.url}/`)
      await page.waitForSelector('#admin-signin:not([hidden])')
      await page.click('#admin-key')
      await page.screenshot({ path: path.join(outDir, `signin-${device}-${scheme}.png`) })
      await context.close()
    }
  } finally {
    await tokenServer.stop()
  }
}

/** A plain document as a writing surface: Markdown styled as it is typed, find and replace. */
async function writingScreenshots () {
  const ydocText = [
    '# Weekly sync', '',
    'Notes from **Thursday**, written together. Links like [the roadmap](https://example.com/roadmap) stay *plain Markdown*.', '',
    '## Decisions', '',
    '- Ship the share dialog with `expires_in` choices',
    '- Offline editing: done',
    '- Next review on Monday', '',
    '> Keep the editor calm: it is a writing surface, not a code editor.', '',
    '### Open questions', '',
    '1. Who owns the release notes?',
    '2. Do we need a *print* view?',
  ].join('\n')
  await post('/api/documents', { title: 'Weekly sync' })
  for (const scheme of ['light', 'dark']) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme })
    await context.addInitScript(() => localStorage.setItem('tandem:name', 'Cleo'))
    const page = await context.newPage()
    await page.goto(`${server.url}/d/weekly-sync`)
    await page.waitForSelector('.cm-content')
    await waitForStatus(page, 'connected')
    await page.click('.cm-content')
    if (scheme === 'light') await page.keyboard.insertText(ydocText)
    await page.waitForFunction(() => document.querySelector('.cm-content .md-h1'))
    await page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved')
    await page.keyboard.press('Control+f')
    await page.keyboard.type('editor')
    await page.keyboard.press('Enter')
    await page.screenshot({ path: path.join(outDir, `writing-desktop-${scheme}.png`) })
    await context.close()
  }
}
