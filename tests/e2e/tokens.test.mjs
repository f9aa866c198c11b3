// Access tokens: a read token gives a read-only editor that cannot change the text, a write
// token with a name edits under that name; the token travels on every request. The list and
// delete are the admin's: the list page asks for the admin key once, then lists, opens and
// deletes; everyone else is refused by the server, with the reason.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged, serverBin, serverEnv } from './harness.mjs'

const secret = 'e2e-secret-0123456789abcdef0123456789'
const adminKey = 'e2e-admin-key-9876'
let server
let browser

function mint (args) {
  return execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
}

before(async () => {
  server = await startServer(['--secret', secret, '--admin-key', adminKey])
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

  // Listing all documents needs the admin key in token mode: the list page asks for it
  // instead of showing an empty table.
  const list = await browser.newContext()
  const lp = await list.newPage()
  await lp.goto(`${server.url}/?token=${writeToken}`)
  await lp.waitForSelector('#admin-signin:not([hidden])', { timeout: 15000 })
  assert.match(await lp.textContent('#admin-signin'), /Only the server's admin sees the list/)
  assert.equal(await lp.$('tr[data-doc] button.delete'), null)
  await list.close()
  await writer.context.close()
  await reader.context.close()
})

async function adminApi (method, path) {
  const res = await fetch(`${server.url}${path}`, { method, headers: { Authorization: `Bearer ${adminKey}` } })
  return res.status
}

test('the admin signs in once on the list page, opens and deletes documents; others are refused', { timeout: 60000 }, async () => {
  const writeToken = mint(['--doc', 'admin-*', '--access', 'write', '--name', 'Writer'])
  for (const name of ['admin-keep', 'admin-doomed']) {
    const res = await fetch(`${server.url}/api/documents`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${writeToken}` },
      body: JSON.stringify({ name }),
    })
    assert.equal(res.status, 201, `create ${name}: HTTP ${res.status}`)
  }
  // A document token, even a write one for the document, may not delete it: the server says why.
  const refused = await fetch(`${server.url}/api/documents/admin-doomed`, { method: 'DELETE', headers: { Authorization: `Bearer ${writeToken}` } })
  assert.equal(refused.status, 403)
  assert.match((await refused.json()).error, /only the server's admin.*document token/s)

  const context = await browser.newContext()
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error('[admin] page error:', err.message))
  await page.goto(`${server.url}/`)
  await page.waitForSelector('#admin-signin:not([hidden])')
  assert.equal(await page.isVisible('.doc-table'), false)

  // A wrong key is refused with the server's reason, and not kept.
  await page.fill('#admin-key', 'not-the-key')
  await page.click('#admin-signin button[type=submit]')
  await page.waitForSelector('#admin-error:not([hidden])')
  assert.match(await page.textContent('#admin-error'), /not accepted: only the server's admin/)
  assert.equal(await page.evaluate(() => localStorage.getItem('tandem:admin-key')), null)

  await page.fill('#admin-key', adminKey)
  await page.click('#admin-signin button[type=submit]')
  await page.waitForSelector('tr[data-doc="admin-doomed"] button.delete')
  assert.equal(await page.isVisible('#admin-signin'), false)
  assert.equal(await page.isVisible('#admin-status'), true)

  // Entered once: a reload (or another tab) is still signed in, and the admin opens documents
  // on this token server without a link.
  await page.reload()
  await page.waitForSelector('tr[data-doc="admin-keep"] .doc-link')
  await page.click('tr[data-doc="admin-keep"] .doc-link')
  await page.waitForURL(/\/d\/admin-keep$/)
  await waitForStatus(page, 'connected')
  await page.click('.cm-content')
  await page.keyboard.type('Admin was here.')
  await page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved')
  const text = await (await fetch(`${server.url}/api/documents/admin-keep/text`, { headers: { Authorization: `Bearer ${adminKey}` } })).text()
  assert.equal(text, 'Admin was here.')

  // Delete, with the confirmation.
  await page.goto(`${server.url}/`)
  page.once('dialog', (d) => { assert.match(d.message(), /Delete “admin-doomed”/); d.accept() })
  await page.click('tr[data-doc="admin-doomed"] button.delete')
  await page.waitForSelector('tr[data-doc="admin-doomed"]', { state: 'detached' })
  assert.equal(await adminApi('GET', '/api/documents/admin-doomed'), 404)
  assert.equal(await adminApi('GET', '/api/documents/admin-keep'), 200)

  // Signing out forgets the key.
  await page.click('#admin-signout')
  await page.waitForSelector('#admin-signin:not([hidden])')
  assert.equal(await page.evaluate(() => localStorage.getItem('tandem:admin-key')), null)
  assert.equal(await page.$('tr[data-doc]'), null)
  await context.close()
})

test('a server with tokens but no admin key: nobody lists or deletes, and the page says so', { timeout: 60000 }, async () => {
  const keyless = await startServer(['--secret', secret])
  try {
    const token = mint(['--doc', '*', '--access', 'write'])
    const del = await fetch(`${keyless.url}/api/documents/anything`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })
    assert.equal(del.status, 403)
    assert.match((await del.json()).error, /no admin key/)
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${keyless.url}/`)
    await page.waitForSelector('#no-admin:not([hidden])')
    assert.match(await page.textContent('#no-admin'), /this server has no admin key/)
    assert.equal(await page.isVisible('#admin-signin'), false)
    await context.close()
  } finally {
    await keyless.stop()
  }
})
