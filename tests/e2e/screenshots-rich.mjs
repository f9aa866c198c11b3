// The rich editor's screenshots (docs/screenshots/rich-*.png), taken by screenshots.mjs:
// a rich document typed by two people, with the history open on a version's preview.
import path from 'node:path'
import { waitForStatus } from './harness.mjs'

async function type (page, lines) {
  for (const line of lines) {
    if (line === '\n') await page.keyboard.press('Enter')
    else if (line.startsWith('key:')) await page.keyboard.press(line.slice(4))
    else await page.keyboard.type(line)
  }
}

export async function richScreenshots (server, browser, outDir) {
  const post = (p, body) => fetch(`${server.url}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  await post('/api/documents', { title: 'Launch plan', kind: 'rich' })
  const url = `${server.url}/d/launch-plan`
  // (harness.openAs waits for CodeMirror; a rich document has Tiptap instead.)
  const start = async (name) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    await context.addInitScript((n) => localStorage.setItem('tandem:name', n), name)
    const page = await context.newPage()
    await page.goto(url)
    await page.waitForSelector('.ProseMirror')
    await waitForStatus(page, 'connected')
    return page
  }
  const ann = await start('Ann')
  const bob = await start('Bob')
  await ann.click('.ProseMirror')
  await type(ann, ['# Launch plan', '\n', 'We ship the ', 'key:Control+b', 'rich editor', 'key:Control+b',
    ' on ', 'key:Control+i', 'Thursday', 'key:Control+i', '. Notes from the review:', '\n',
    '- ', 'Toolbar for headings, lists and links', '\n', 'Downloads as Markdown and HTML', '\n', '\n',
    '## Checklist', '\n', '[ ] ', 'Screenshots in light and dark', '\n', 'Release notes', '\n', '\n',
    '> ', 'History previews each version with its formatting.'])
  await ann.click('.ProseMirror ul[data-type=taskList] li label')
  // Wait for the automatic version, so the history has one to preview.
  for (let i = 0; i < 100; i++) {
    const { versions } = await (await fetch(`${server.url}/api/documents/launch-plan/versions`)).json()
    if (versions.length > 0) break
    await new Promise((r) => setTimeout(r, 200))
  }
  await bob.click('.ProseMirror h2')
  await bob.keyboard.press('End')
  await bob.keyboard.type(' (due Wednesday)')
  await ann.close()

  for (const scheme of ['light', 'dark']) {
    for (const [device, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: device === 'phone' ? 2 : 1 })
      await context.addInitScript(() => localStorage.setItem('tandem:name', 'Cleo'))
      const page = await context.newPage()
      await page.goto(url)
      await page.waitForSelector('.ProseMirror h1')
      await waitForStatus(page, 'connected')
      await page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved')
      await page.waitForFunction(() => document.querySelectorAll('#presence li').length === 2)
      await page.click('.ProseMirror h1')
      if (device === 'desktop') {
        await page.click('#toggle-history')
        await page.click('#version-list li[data-version="1"] button')
        await page.waitForSelector('#version-preview .rich-preview h1')
      }
      await page.screenshot({ path: path.join(outDir, `rich-editor-${device}-${scheme}.png`) })
      await context.close()
    }
  }
  await bob.context().close()
}
