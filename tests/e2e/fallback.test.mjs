// WebSocket disabled on the server: SSE and long polling editors collaborate, and an editor
// without a forced transport falls back to SSE by itself.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, launchBrowser, openAs, waitForStatus, waitConverged } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer(['--disable-transports', 'websocket'])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('sse and poll editors converge; automatic fallback picks sse', { timeout: 75000 }, async () => {
  const doc = 'e2e-fallback'
  const created = await fetch(`${server.url}/api/documents`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: doc }),
  })
  assert.equal(created.status, 201, `create document: HTTP ${created.status}`)
  const sse = await openAs(browser, 'Sam', `${server.url}/d/${doc}?transport=sse`)
  const poll = await openAs(browser, 'Pat', `${server.url}/d/${doc}?transport=poll`)
  await waitForStatus(sse.page, 'connected', 'sse')
  await waitForStatus(poll.page, 'connected', 'poll')
  assert.match(await sse.page.textContent('#conn-transport'), /SSE/)
  assert.match(await poll.page.textContent('#conn-transport'), /polling/i)

  await sse.page.click('.cm-content')
  await poll.page.click('.cm-content')
  await Promise.all([
    sse.page.keyboard.type('Server-sent line. ', { delay: 20 }),
    poll.page.keyboard.type('Polling line. ', { delay: 20 }),
  ])
  const text = await waitConverged([sse.page, poll.page],
    (t) => t.includes('Server-sent line.') && t.includes('Polling line.'), 30000)

  // presence crosses transports too
  await sse.page.waitForFunction(() => document.getElementById('presence').textContent.includes('Pat'), null, { timeout: 15000 })
  await poll.page.waitForFunction(() => document.getElementById('presence').textContent.includes('Sam'), null, { timeout: 15000 })

  const auto = await openAs(browser, 'Ada', `${server.url}/d/${doc}`)
  await waitForStatus(auto.page, 'connected', 'sse', 30000)
  await waitConverged([sse.page, poll.page, auto.page], (t) => t === text, 20000)
  await auto.page.click('.cm-content')
  await auto.page.keyboard.press('Control+End')
  await auto.page.keyboard.type(' Fallback works.')
  await waitConverged([sse.page, poll.page, auto.page], (t) => t.includes('Fallback works.'), 30000)

  for (const p of [sse, poll, auto]) await p.context.close()
})
