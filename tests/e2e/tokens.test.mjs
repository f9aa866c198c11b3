// Access tokens: a read token gives a read-only editor that cannot change the text, a write
// token with a name edits under that name; the token travels on every request.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged, serverBin, serverEnv } from './harness.mjs'

const secret = 'e2e-secret-0123456789abcdef0123456789'
let server
let browser

function mint (args) {
  return execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
}

before(async () => {
  server = await startServer(['--secret', secret])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('read tokens make a read-only editor; write tokens edit under their name', { timeout: 60000 }, async () => {
  const doc = 'e2e-tokens'
  const writeToken = mint(['--doc', 'e2e-*', '--access', 'write', '--name', 'Writer'])
  const readToken = mint(['--doc', doc, '--access', 'read', '--name', 'Reader'])
  const created = await fetch(`${server.url}/api/documents`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${writeToken}` },
    body: JSON.stringify({ name: doc }),
  })
  assert.equal(created.status, 201, `create document: HTTP ${created.status}`)

  const writer = await openAs(browser, 'ignored', `${server.url}/d/${doc}?token=${writeToken}`)
  const reader = await openAs(browser, 'ignored', `${server.url}/d/${doc}?token=${readToken}`)
  await waitForStatus(writer.page, 'connected')
  await waitForStatus(reader.page, 'connected')
  assert.equal(await writer.page.inputValue('#user-name'), 'Writer')
  assert.equal(await reader.page.inputValue('#user-name'), 'Reader')
  assert.equal(await reader.page.$eval('#readonly-badge', (e) => e.hidden), false)
  assert.equal(await writer.page.$eval('#readonly-badge', (e) => e.hidden), true)

  await writer.page.click('.cm-content')
  await writer.page.keyboard.type('Only the writer writes.')
  await waitConverged([writer.page, reader.page], (t) => t === 'Only the writer writes.')

  await reader.page.click('.cm-content')
  await reader.page.keyboard.type('READER TRIED')
  // The reader's editor shows its own document: had its typing been taken, its text would
  // contain it. A later edit by the writer, once it reaches the reader, shows the reader's
  // state after the attempt, with no quiet period to wait out.
  await writer.page.click('.cm-content')
  await writer.page.keyboard.press('Control+End')
  await writer.page.keyboard.type(' Still only.')
  const after = await waitConverged([writer.page, reader.page], (t) => t.includes('Still only.'))
  assert.equal(after, 'Only the writer writes. Still only.')
  await reader.page.waitForFunction(() => document.getElementById('presence').textContent.includes('Writer'))

  // Listing all documents needs the admin key in token mode: the list page shows the
  // server's refusal as a visible message instead of an empty table.
  const list = await browser.newContext()
  const lp = await list.newPage()
  await lp.goto(`${server.url}/?token=${writeToken}`)
  await lp.waitForSelector('#list-error:not([hidden])', { timeout: 15000 })
  assert.match(await lp.textContent('#list-error'), /admin/i)
  await list.close()
  await writer.context.close()
  await reader.context.close()
})
