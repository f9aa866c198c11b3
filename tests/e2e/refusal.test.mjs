// A refused link is not a network failure: an expired, invalid or missing token, over each
// transport (and a link that expires while its editor is open), gives a page saying what
// happened and whom to ask, and the editor stops trying to connect.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, serverBin, serverEnv } from './harness.mjs'

const secret = 'e2e-refusal-secret-0123456789abcdef01'
let server
let browser

function mint (args) {
  return execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
}

/** A link Ann hands out (so the token names her), living `secs` seconds. */
async function shareLink (doc, secs) {
  const ann = mint(['--doc', doc, '--access', 'write', '--name', 'Ann', '--share'])
  const res = await fetch(`${server.url}/api/documents/${doc}/share`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ann}` },
    body: JSON.stringify({ access: 'write', expires_in: secs }),
  })
  assert.equal(res.status, 201)
  return (await res.json()).token
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Opens `url` and counts the sync requests (WebSocket, SSE, polling) the page makes. */
async function open (url) {
  const context = await browser.newContext()
  const page = await context.newPage()
  const sync = { count: 0 }
  page.on('request', (r) => { if (/\/(sse|poll)\//.test(new URL(r.url()).pathname)) sync.count++ })
  page.on('websocket', () => { sync.count++ })
  await page.goto(url)
  return { context, page, sync }
}

/** The refusal page is shown, and no sync request follows it. */
async function assertRefused (page, sync, title, advice) {
  await page.waitForSelector('#refusal', { timeout: 20000 })
  assert.equal(await page.textContent('#refusal h1'), title)
  assert.match(await page.textContent('#refusal .lead'), advice)
  assert.equal(await page.isVisible('#conn-status'), false, 'no "Offline / Reconnecting" badge')
  const before = sync.count
  await sleep(3000)
  assert.equal(sync.count, before, 'the editor kept retrying after the refusal')
}

before(async () => {
  server = await startServer(['--secret', secret])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

for (const transport of ['websocket', 'sse', 'poll']) {
  test(`expired, invalid and missing links are refusals over ${transport}`, { timeout: 90000 }, async () => {
    const doc = `refused-${transport}`
    const expired = await shareLink(doc, 1)
    const valid = await shareLink(doc, 600)
    const forged = valid.slice(0, -4) + (valid.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    await sleep(2100)
    // The three refusals side by side, each in its own context: their quiet periods (no sync
    // request after the refusal) overlap instead of adding up.
    const cases = [
      [`&token=${expired}`, 'This link has expired', /Ask Ann for a new one/],
      [`&token=${forged}`, 'This link is not valid', /Ask Ann for the link again/],
      ['', 'This document needs an access link', /link you were given/],
    ]
    await Promise.all(cases.map(async ([query, title, advice]) => {
      const o = await open(`${server.url}/d/${doc}?transport=${transport}${query}`)
      await assertRefused(o.page, o.sync, title, advice)
      await o.context.close()
    }))
  })

  test(`a link that expires while open ends the session over ${transport}`, { timeout: 90000 }, async () => {
    const doc = `expiring-${transport}`
    const link = await shareLink(doc, 5)
    const o = await open(`${server.url}/d/${doc}?transport=${transport}&token=${link}`)
    await o.page.waitForFunction(() => document.getElementById('conn-status')?.dataset.status === 'connected')
    await o.page.click('.cm-content')
    await o.page.keyboard.type('typed before it expired')
    await assertRefused(o.page, o.sync, 'This link has expired', /Ask Ann for a new one/)
    await o.context.close()
  })
}

test('refusals carry a machine-readable code', async () => {
  const doc = 'coded'
  const expired = await shareLink(doc, 1)
  await sleep(2100)
  const cases = [
    [`?token=${expired}`, 401, 'token_expired'],
    ['?token=not.a.token', 401, 'token_invalid'],
    ['', 401, 'token_missing'],
    [`?token=${mint(['--doc', 'other', '--access', 'read'])}`, 403, 'wrong_document'],
  ]
  for (const [query, status, code] of cases) {
    const res = await fetch(`${server.url}/api/documents/${doc}${query}`)
    assert.equal(res.status, status, query)
    assert.equal((await res.json()).code, code, query)
  }
})
