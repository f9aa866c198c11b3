// Sharing choices: the sharer picks how long a link lives, the links are there as soon as
// the dialog opens (no Copy press needed to see them), and a visitor who cannot make
// documents on a server with tokens is not shown a "New document" form.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, openAs, waitForStatus, serverBin, serverEnv } from './harness.mjs'

const secret = 'e2e-sharing-secret-0123456789abcdef0'
const adminKey = 'e2e-sharing-admin-key'
let server
let browser

function mint (args) {
  return execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
}

/** The claims of the token a (short) share link leads to. */
async function claimsOf (link) {
  const res = await fetch(link, { redirect: 'manual' })
  assert.equal(res.status, 303, `${link} is not a short link`)
  const token = new URL(res.headers.get('location'), link).searchParams.get('token')
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'))
}

before(async () => {
  server = await startServer(['--secret', secret, '--admin-key', adminKey])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('the sharer chooses the lifetime and sees the links at once', { timeout: 60000 }, async () => {
  const doc = 'lifetimes'
  const owner = mint(['--doc', doc, '--access', 'write', '--name', 'Ann', '--share', '--expires-in', String(60 * 86400)])
  const { context, page } = await openAs(browser, 'ignored', `${server.url}/d/${doc}?token=${owner}`)
  await waitForStatus(page, 'connected')
  await page.click('#share')
  await page.waitForSelector('#share-dialog[open]')
  // No button pressed: both links are in their boxes.
  await page.waitForFunction(() => document.getElementById('share-view-url').value.includes('/s/') &&
    document.getElementById('share-edit-url').value.includes('/s/'), null, { timeout: 10000 })
  const now = Date.now() / 1000
  const week = await claimsOf(await page.inputValue('#share-view-url'))
  assert.ok(Math.abs(week.exp - (now + 7 * 86400)) < 120, `default lifetime: ${week.exp - now} s`)
  assert.equal(week.access, 'read')
  assert.equal(week.by, 'Ann', 'the link names who shared it')

  // The week's link, read before the change: the new one may be made before a read after it.
  const weekUrl = await page.inputValue('#share-view-url')
  await page.selectOption('#share-lifetime', { label: '1 hour' })
  await page.waitForFunction((before) => {
    const v = document.getElementById('share-view-url').value
    return v.includes('/s/') && v !== before
  }, weekUrl, { timeout: 10000 })
  const hour = await claimsOf(await page.inputValue('#share-view-url'))
  assert.ok(Math.abs(hour.exp - (Date.now() / 1000 + 3600)) < 120, `1 hour: ${hour.exp - Date.now() / 1000} s`)
  assert.match(await page.textContent('#share-view'), /for 1 hour/)
  const edit = await claimsOf(await page.inputValue('#share-edit-url'))
  assert.equal(edit.access, 'write')
  assert.ok(Math.abs(edit.exp - hour.exp) < 120)

  // The copy button copies what the box shows.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
  await page.click('#share-view-copy')
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.inputValue('#share-view-url'))
  await context.close()
})

test('the sharer lists the links and revokes one; its open editor is told', { timeout: 60000 }, async () => {
  const doc = 'revocable'
  const owner = mint(['--doc', doc, '--access', 'write', '--name', 'Ann', '--share', '--expires-in', String(60 * 86400)])
  const ann = await openAs(browser, 'ignored', `${server.url}/d/${doc}?token=${owner}`)
  await waitForStatus(ann.page, 'connected')
  await ann.page.click('#share')
  await ann.page.waitForFunction(() => document.getElementById('share-edit-url').value.includes('/s/'), null, { timeout: 10000 })
  const link = await ann.page.inputValue('#share-edit-url')
  assert.ok(link.length < 80, `a long link: ${link}`)
  await ann.page.waitForFunction(() => document.querySelectorAll('#share-links li[data-state=active]').length === 2, null, { timeout: 10000 })

  const guest = await openAs(browser, 'ignored', link)
  await waitForStatus(guest.page, 'connected')
  assert.equal(await guest.page.inputValue('#user-name'), 'guest of Ann')
  const id = link.split('/s/')[1]
  await ann.page.click(`#share-links li[data-id="${id}"] button.revoke`)
  await ann.page.waitForSelector(`#share-links li[data-id="${id}"][data-state=revoked]`)
  await guest.page.waitForSelector('#refusal', { timeout: 15000 })
  assert.equal(await guest.page.textContent('#refusal h1'), 'This link was revoked')
  // Opening it again is refused too.
  await guest.page.goto(link)
  await guest.page.waitForSelector('#refusal', { timeout: 15000 })
  assert.equal(await guest.page.textContent('#refusal h1'), 'This link was revoked')
  await ann.context.close()
  await guest.context.close()
})

test('a visitor who cannot create documents sees no "New document" form', { timeout: 60000 }, async () => {
  const visitor = mint(['--doc', 'only-this', '--access', 'write'])
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${server.url}/?token=${visitor}`)
  await page.waitForSelector('#admin-signin:not([hidden])', { timeout: 15000 })
  assert.equal(await page.isVisible('#new-doc-title'), false, 'a form that can only fail is shown')

  // The admin, signed in, has it.
  await page.goto(`${server.url}/`)
  await page.fill('#admin-key', adminKey)
  await page.click('#admin-signin button[type=submit]')
  await page.waitForSelector('#new-doc-title', { state: 'visible', timeout: 15000 })
  await context.close()
})
