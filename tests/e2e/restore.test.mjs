// A restore is somebody's edit: the other person is told who replaced their text and from
// which version, and the new version names the restorer as its author.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, launchBrowser, openAs, waitConverged } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer(['--version-idle-secs', '3600'])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('a restore tells the other person who replaced their text, and records its author', { timeout: 90000 }, async () => {
  const doc = 'restore-news'
  const url = `${server.url}/d/${doc}`
  const ann = await openAs(browser, 'Ann', url)
  const rita = await openAs(browser, 'Rita', url)
  await ann.page.click('.cm-content')
  await ann.page.keyboard.type('First draft.')
  await waitConverged([ann.page, rita.page], (t) => t === 'First draft.')
  const named = await fetch(`${server.url}/api/documents/${doc}/versions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'draft' }),
  })
  assert.equal(named.status, 201)
  const { version } = await named.json()
  await ann.page.keyboard.type(' Ann kept writing.')
  await waitConverged([ann.page, rita.page], (t) => t.endsWith('kept writing.'))

  await rita.page.click('#toggle-history')
  await rita.page.click(`#version-list li[data-version="${version}"] button`)
  await rita.page.click('#version-preview button.restore')
  await waitConverged([ann.page, rita.page], (t) => t === 'First draft.')

  // Ann is told, by name, and pointed to History.
  await ann.page.waitForFunction(() => /Rita restored version #\d+/.test(document.getElementById('editor-message')?.textContent ?? ''))
  const told = await ann.page.textContent('#editor-message')
  assert.match(told, new RegExp(`Rita restored version #${version}: the text was replaced`))
  assert.match(told, /History keeps what was there before/)

  // The restore version names who edited since the named one: Ann typed, Rita restored.
  const list = (await (await fetch(`${server.url}/api/documents/${doc}/versions`)).json()).versions
  assert.equal(list[0].kind, 'restore')
  assert.deepEqual(list[0].authors, ['Ann', 'Rita'])
  await ann.context.close()
  await rita.context.close()
})
