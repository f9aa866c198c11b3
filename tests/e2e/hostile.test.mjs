// A hostile collaborator and the editor's own defences: a presence colour that is CSS
// (`red;position:fixed;inset:0`) from another client never becomes style in the editor, and
// the editor's pages carry a Content-Security-Policy (plus X-Frame-Options and
// Referrer-Policy) that the editor works under without a single violation.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { startServer, launchBrowser, openAs, editorText, waitForStatus } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

const HOSTILE = 'red;position:fixed;inset:0;z-index:99999'

/** A y-websocket client in Node that syncs `doc`, then shows a caret at `index` with `user`. */
async function hostileClient (doc, index, user) {
  const ydoc = new Y.Doc()
  const awareness = new awarenessProtocol.Awareness(ydoc)
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws/${doc}`)
  ws.binaryType = 'arraybuffer'
  const synced = new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('message', (data) => {
      const decoder = decoding.createDecoder(new Uint8Array(data))
      if (decoding.readVarUint(decoder) !== 0) return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      const kind = syncProtocol.readSyncMessage(decoder, encoder, ydoc, null)
      if (encoding.length(encoder) > 1) ws.send(encoding.toUint8Array(encoder))
      if (kind === syncProtocol.messageYjsSyncStep2) resolve()
    })
  })
  await new Promise((resolve) => ws.once('open', resolve))
  const step1 = encoding.createEncoder()
  encoding.writeVarUint(step1, 0)
  syncProtocol.writeSyncStep1(step1, ydoc)
  ws.send(encoding.toUint8Array(step1))
  await synced
  const ytext = ydoc.getText('content')
  const at = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, index))
  awareness.setLocalState({ user, cursor: { anchor: at, head: at } })
  const msg = encoding.createEncoder()
  encoding.writeVarUint(msg, 1)
  encoding.writeVarUint8Array(msg, awarenessProtocol.encodeAwarenessUpdate(awareness, [ydoc.clientID]))
  ws.send(encoding.toUint8Array(msg))
  return { close: () => { awareness.destroy(); ws.close() } }
}

test('the editor pages carry a CSP, X-Frame-Options and Referrer-Policy', async () => {
  for (const p of ['/', '/d/anything', '/no-such-page']) {
    const res = await fetch(server.url + p)
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'self'/, p)
    assert.match(csp, /script-src 'self'(;|$)/, p)
    assert.match(csp, /frame-ancestors 'none'/, p)
    assert.equal(res.headers.get('x-frame-options'), 'DENY', p)
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', p)
  }
})

test("another client's CSS colour never styles the editor, which works under its CSP", { timeout: 60000 }, async () => {
  const doc = 'e2e-hostile'
  const ann = await openAs(browser, 'Ann', `${server.url}/d/${doc}`)
  const violations = []
  ann.page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
  await ann.context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations = [...(window.cspViolations ?? []), `${e.violatedDirective} ${e.blockedURI}`]
    })
  })
  // Loaded again with the listeners in place from the start.
  await ann.page.reload()
  await ann.page.waitForSelector('.cm-content')
  await waitForStatus(ann.page, 'connected', 'websocket')
  await ann.page.click('.cm-content')
  await ann.page.keyboard.type('hello world')
  await ann.page.waitForFunction(async (d) => (await (await fetch(`/api/documents/${d}/text`)).text()) === 'hello world', doc)

  const eve = await hostileClient(doc, 5, { name: 'Eve', color: HOSTILE, colorLight: HOSTILE })
  try {
    await ann.page.waitForFunction(() =>
      Array.from(document.querySelectorAll('.cm-ySelectionInfo')).some((el) => el.textContent === 'Eve'))
    const caret = await ann.page.evaluate(() => {
      const info = Array.from(document.querySelectorAll('.cm-ySelectionInfo')).find((el) => el.textContent === 'Eve')
      const el = info.closest('.cm-ySelectionCaret')
      return { style: el.getAttribute('style'), position: getComputedStyle(el).position }
    })
    assert.doesNotMatch(caret.style, /position|inset|z-index|red/, caret.style)
    assert.notEqual(caret.position, 'fixed')
    // The page still takes clicks and typing.
    await ann.page.click('.cm-content')
    await ann.page.keyboard.press('End')
    await ann.page.keyboard.type('!')
    await ann.page.waitForFunction(async (d) => (await (await fetch(`/api/documents/${d}/text`)).text()) === 'hello world!', doc)
    assert.equal(await editorText(ann.page), 'hello world!')
  } finally {
    eve.close()
  }
  const seen = await ann.page.evaluate(() => window.cspViolations ?? [])
  assert.deepEqual([...seen, ...violations], [], 'CSP violations while editing')
  await ann.context.close()
})
