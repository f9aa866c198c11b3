// Sharing without the admin key: a token with the share claim mints links for its document
// with equal or lower access and a bounded life; a view-only visitor sees "View only".
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, openAs, editorText, waitForStatus, waitConverged, serverBin } from './harness.mjs'

const secret = 'e2e-share-secret-0123456789abcdef0123'
let server
let browser

function mint (args) {
  return execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8' }).trim().split(/\s+/).pop()
}

async function share (doc, token, body) {
  const res = await fetch(`${server.url}/api/documents/${doc}/share`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

before(async () => {
  server = await startServer(['--secret', secret])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('the share dialog hands out a view-only link and an edit link', { timeout: 60000 }, async () => {
  const doc = 'shared-plan'
  const owner = mint(['--doc', doc, '--access', 'write', '--name', 'Owner', '--share'])
  const o = await openAs(browser, 'ignored', `${server.url}/d/${doc}?token=${owner}`)
  await waitForStatus(o.page, 'connected')
  await o.page.click('.cm-content')
  await o.page.keyboard.type('Plan for everyone to read.')

  await o.page.click('#share')
  await o.page.waitForSelector('#share-dialog[open]')
  await o.page.click('#share-view-copy')
  await o.page.waitForFunction(() => document.getElementById('share-view-url').value.includes('/s/'))
  const link = await o.page.inputValue('#share-view-url')
  // A short address (/s/<id>) that leads to the document with the link's token.
  assert.match(link, /\/s\/[A-Za-z0-9]{10}$/)

  const v = await openAs(browser, 'Visitor', link)
  await waitForStatus(v.page, 'connected')
  assert.equal(await v.page.isVisible('#readonly-badge'), true)
  assert.equal(await v.page.textContent('#readonly-badge'), 'View only')
  await waitConverged([o.page, v.page], (t) => t === 'Plan for everyone to read.')
  await v.page.click('.cm-content')
  await v.page.keyboard.type('VISITOR WAS HERE')
  assert.equal(await editorText(v.page), 'Plan for everyone to read.')
  const text = await (await fetch(`${server.url}/api/documents/${doc}/text?token=${owner}`)).text()
  assert.equal(text, 'Plan for everyone to read.')

  // The edit link: its visitor edits, under the link's name, which says who shared it
  // (a link with a label would show that too: "Review team (from Owner)").
  await o.page.click('#share-edit-copy')
  await o.page.waitForFunction(() => document.getElementById('share-edit-url').value.includes('/s/'))
  const editLink = await o.page.inputValue('#share-edit-url')
  assert.notEqual(editLink, link)
  const e = await openAs(browser, 'Editor', editLink)
  await waitForStatus(e.page, 'connected')
  assert.equal(await e.page.isVisible('#readonly-badge'), false)
  assert.equal(await e.page.inputValue('#user-name'), 'guest of Owner')
  await e.page.click('.cm-content')
  await e.page.keyboard.press('Control+End')
  await e.page.keyboard.type(' Edited.')
  await waitConverged([o.page, v.page, e.page], (t) => t === 'Plan for everyone to read. Edited.')
  await o.context.close()
  await v.context.close()
  await e.context.close()
})

test('shared tokens: same document, equal or lower access, bounded life', async () => {
  const doc = 'bounded'
  const writer = mint(['--doc', doc, '--access', 'write', '--share', '--expires-in', '600'])
  const reader = mint(['--doc', doc, '--access', 'read', '--share'])
  const plain = mint(['--doc', doc, '--access', 'write'])

  const ok = await share(doc, writer, { access: 'write', expires_in: 7 * 86400 })
  assert.equal(ok.status, 201)
  // Never outlives the sharer's own token.
  assert.ok(ok.body.expires_at <= Math.floor(Date.now() / 1000) + 600, JSON.stringify(ok.body))
  // A minted link cannot share further.
  assert.equal((await share(doc, ok.body.token, { access: 'read' })).status, 403)

  assert.equal((await share(doc, reader, { access: 'write' })).status, 403)
  assert.equal((await share(doc, reader, { access: 'read' })).status, 201)
  assert.equal((await share(doc, plain, { access: 'read' })).status, 403)
  assert.equal((await share('other-doc', writer, { access: 'read' })).status, 403)
  const tooLong = await share(doc, writer, { access: 'read', expires_in: 365 * 86400 })
  assert.equal(tooLong.status, 400)
  assert.match(tooLong.body.error, /expires_in/)
})
