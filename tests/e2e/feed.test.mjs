// The change feed in a browser: a plain page follows a document with EventSource while
// another tab types into it; the server is killed with -9 and restarted; EventSource
// reconnects with Last-Event-ID, and the text rebuilt from the deltas equals the
// document's, with no change missed or doubled.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startServer, launchBrowser, openAs, editorText, waitForStatus } from './harness.mjs'

let server
let browser
let dataDir

after(async () => {
  await browser?.close()
  await server?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

async function serverText (url, doc) {
  const res = await fetch(`${url}/api/documents/${doc}/text`)
  return res.ok ? res.text() : null
}

/** Starts an EventSource in the page that rebuilds the text from the feed's deltas. */
function follow (page, doc) {
  return page.evaluate((name) => {
    const feed = { text: '', ids: [], opens: 0, lastEventIds: [] }
    window.feed = feed
    const source = new EventSource(`/api/documents/${name}/changes?after=0`)
    source.onopen = () => { feed.opens += 1 }
    const take = (e) => {
      feed.ids.push(Number(e.lastEventId))
      const data = JSON.parse(e.data)
      if (e.type === 'snapshot') { feed.text = data.text; return }
      let at = 0
      for (const op of data.delta) {
        if (op.retain) at += op.retain
        else if (op.delete) feed.text = feed.text.slice(0, at) + feed.text.slice(at + op.delete)
        else if (typeof op.insert === 'string') {
          feed.text = feed.text.slice(0, at) + op.insert + feed.text.slice(at)
          at += op.insert.length
        }
      }
      if (data.length !== feed.text.length) feed.error = `length ${data.length} vs ${feed.text.length}`
    }
    source.addEventListener('change', take)
    source.addEventListener('snapshot', take)
  }, doc)
}

const feedState = (page) => page.evaluate(() => window.feed)

async function waitFeedText (page, want, timeout = 20000) {
  await page.waitForFunction((w) => window.feed.text === w, want, { timeout, polling: 100 })
}

test('EventSource follows typing, across a kill -9 and restart, missing and doubling nothing', { timeout: 90000 }, async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-feed-'))
  server = await startServer([], { dataDir })
  const url = server.url
  const listen = url.replace(/^http:\/\//, '')
  browser = await launchBrowser()
  const doc = 'followed'

  const { page: editor } = await openAs(browser, 'Ann', `${url}/d/${doc}`)
  await waitForStatus(editor, 'connected')
  const reader = await (await browser.newContext()).newPage()
  await reader.goto(`${url}/api/config`)
  await follow(reader, doc)

  await editor.click('.cm-content')
  await editor.keyboard.type('Before the crash. ')
  await waitFeedText(reader, 'Before the crash. ')

  process.kill(server.pid, 'SIGKILL')
  await new Promise((resolve) => setTimeout(resolve, 300))
  await editor.keyboard.type('Typed while down. ')
  server = await startServer([], { dataDir, listen })
  await waitForStatus(editor, 'connected')
  await editor.keyboard.type('After.')

  const want = 'Before the crash. Typed while down. After.'
  await editor.waitForFunction(async ([u, d, w]) => {
    const res = await fetch(`${u}/api/documents/${d}/text`)
    return res.ok && (await res.text()) === w
  }, [server.url, doc, want], { polling: 200, timeout: 20000 })
  await waitFeedText(reader, want)
  assert.equal(await editorText(editor), want)
  assert.equal(await serverText(server.url, doc), want)
  const feed = await feedState(reader)
  assert.equal(feed.error, undefined)
  assert.ok(feed.opens >= 2, `EventSource reconnected (${feed.opens} opens)`)
  for (let i = 1; i < feed.ids.length; i++) {
    assert.ok(feed.ids[i] > feed.ids[i - 1], `ids grow, none twice: ${feed.ids}`)
  }
  // Nothing arrives late or twice after a quiet second.
  const count = feed.ids.length
  await new Promise((resolve) => setTimeout(resolve, 1000))
  assert.equal((await feedState(reader)).ids.length, count)
})
