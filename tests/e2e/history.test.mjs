// History that answers "who changed what": versions record who edited since the previous one
// and the panel shows it; the current text heads the list before any version exists; the
// confirmation fades; after a restore the old preview and diff are gone; the label fits.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer(['--version-idle-secs', '1'])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

async function versions (doc) {
  return (await (await fetch(`${server.url}/api/documents/${doc}/versions`)).json()).versions
}

test('versions name their authors; the panel shows now, fades confirmations, clears after restore', { timeout: 90000 }, async () => {
  const doc = 'history-authors'
  const ann = await openAs(browser, 'Ann', `${server.url}/d/${doc}`, { width: 1280, height: 800 })
  const bob = await openAs(browser, 'Bob', `${server.url}/d/${doc}`, { width: 1280, height: 800 })
  await waitForStatus(ann.page, 'connected')
  await waitForStatus(bob.page, 'connected')

  // Before any version: the current text heads the list instead of "No versions yet".
  await ann.page.click('#toggle-history')
  await ann.page.waitForSelector('#version-current')
  assert.match(await ann.page.textContent('#version-current'), /Current text/)

  // The label placeholder fits in its field.
  const fits = await ann.page.$eval('#version-label', (input) => {
    const ctx = document.createElement('canvas').getContext('2d')
    ctx.font = getComputedStyle(input).font
    const pad = parseFloat(getComputedStyle(input).paddingLeft) + parseFloat(getComputedStyle(input).paddingRight)
    return ctx.measureText(input.placeholder).width <= input.clientWidth - pad
  })
  assert.ok(fits, 'the label placeholder is cut off')

  await ann.page.click('.cm-content')
  await ann.page.keyboard.type('Ann wrote this. ')
  await waitConverged([ann.page, bob.page], (t) => t === 'Ann wrote this. ')
  await bob.page.click('.cm-content')
  await bob.page.keyboard.press('End')
  await bob.page.keyboard.type('Bob added this.')
  await waitConverged([ann.page, bob.page], (t) => t.endsWith('Bob added this.'))

  // The automatic version after editing pauses records both.
  let list = []
  for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
    list = await versions(doc)
    if (list.length > 0) break
    await new Promise((r) => setTimeout(r, 200))
  }
  assert.equal(list.length, 1, 'no automatic version')
  assert.deepEqual(list[0].authors, ['Ann', 'Bob'])
  await ann.page.click('.history-head button.link')
  await ann.page.waitForSelector('#version-list li[data-version="1"]')
  assert.match(await ann.page.textContent('#version-list li[data-version="1"] .v-authors'), /by Ann, Bob/)

  // Naming a version: the confirmation appears, then goes away by itself. Nothing changed
  // since the automatic version, so that version is named rather than stored again.
  await ann.page.fill('#version-label', 'before review')
  await ann.page.click('#name-version')
  const confirmation = '#history-panel .message.ok'
  await ann.page.waitForSelector(`${confirmation}:not([hidden])`)
  assert.match(await ann.page.textContent(confirmation), /Saved “before review” as version #1/)
  await ann.page.waitForSelector(`${confirmation}`, { state: 'hidden', timeout: 15000 })

  // Compare, then restore: the preview and its diff describe a state that is gone.
  await bob.page.keyboard.type(' Later.')
  await waitConverged([ann.page, bob.page], (t) => t.endsWith('Later.'))
  await ann.page.click('#version-list li[data-version="1"] button')
  await ann.page.click('#version-preview button.compare')
  await ann.page.waitForSelector('#version-preview .diff')
  await ann.page.click('#version-preview button.restore')
  await ann.page.waitForSelector('#version-preview', { state: 'hidden' })
  await waitConverged([ann.page, bob.page], (t) => t === 'Ann wrote this. Bob added this.')
  await ann.context.close()
  await bob.context.close()
})
