// The Tiptap example (examples/tiptap: StarterKit + Collaboration + CollaborationCaret on the
// unchanged @hocuspocus/provider) in two Chromium pages on one document through Tandem's
// /hocuspocus endpoint: both type, both converge, each sees the other's caret, the status
// line reaches "saved", and the server holds the typed text.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { build } from 'esbuild'
import * as Y from 'yjs'
import { startServer, launchBrowser, repoRoot, ensureArtifactsDir } from './harness.mjs'

const exampleDir = path.join(repoRoot, 'examples/tiptap')

let server
let browser
let bundle
let pages // the example's static files, served like any static host would
let pageOrigin

before(async () => {
  // Bundled with this project's packages: the example's own node_modules need not exist.
  const result = await build({
    entryPoints: [path.join(exampleDir, 'main.js')],
    bundle: true,
    format: 'esm',
    write: false,
    logLevel: 'silent',
    nodePaths: [path.join(repoRoot, 'tests/e2e/node_modules')]
  })
  bundle = result.outputFiles[0].text
  pages = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x')
    if (pathname === '/dist/main.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    } else {
      res.writeHead(200, { 'content-type': 'text/html' }).end(readFileSync(path.join(exampleDir, 'index.html')))
    }
  })
  await new Promise((resolve) => pages.listen(0, '127.0.0.1', resolve))
  pageOrigin = `http://127.0.0.1:${pages.address().port}`
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
  pages?.close()
})

async function openEditor (name, doc) {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } })
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message))
  const wsOrigin = server.url.replace(/^http/, 'ws')
  await page.goto(`${pageOrigin}/?server=${encodeURIComponent(wsOrigin)}&doc=${doc}&name=${name}`)
  await page.waitForFunction(() => window.tiptapDemo?.provider.synced, null, { timeout: 8000 })
  return page
}

const editorText = (page) => page.evaluate(() => window.tiptapDemo.editor.getText())
const caretLabels = (page) => page.evaluate(() =>
  Array.from(document.querySelectorAll('.collaboration-carets__label')).map((el) => el.textContent))

test('two Tiptap editors on one document converge and show each other\'s carets', { timeout: 75000 }, async () => {
  const doc = 'tiptap-e2e'
  const [ann, bob] = await Promise.all([openEditor('Ann', doc), openEditor('Bob', doc)])

  // Type into both at once.
  await Promise.all([ann.click('.ProseMirror'), bob.click('.ProseMirror')])
  await Promise.all([
    ann.keyboard.type('Ann writes here. ', { delay: 15 }),
    bob.keyboard.type('Bob writes there. ', { delay: 15 })
  ])

  const converged = async () => {
    const [a, b] = await Promise.all([editorText(ann), editorText(bob)])
    return a === b && a.includes('Ann writes here.') && b.includes('Bob writes there.') ? a : null
  }
  let text = null
  for (const deadline = Date.now() + 20000; !text && Date.now() < deadline;) {
    text = await converged()
    if (!text) await ann.waitForTimeout(100)
  }
  assert.ok(text, `editors did not converge: ${JSON.stringify([await editorText(ann), await editorText(bob)])}`)

  // Each sees the other's caret with its name.
  await ann.waitForFunction(() => Array.from(document.querySelectorAll('.collaboration-carets__label'))
    .some((el) => el.textContent === 'Bob'), null, { timeout: 10000 })
  await bob.waitForFunction(() => Array.from(document.querySelectorAll('.collaboration-carets__label'))
    .some((el) => el.textContent === 'Ann'), null, { timeout: 10000 })
  assert.deepEqual(await caretLabels(ann), ['Bob'])
  assert.deepEqual(await caretLabels(bob), ['Ann'])
  // Names of equal length get different caret colours (the colour is a hash of the name).
  const caretColor = (page) => page.evaluate(() => document.querySelector('.collaboration-carets__label').style.backgroundColor)
  assert.notEqual(await caretColor(ann), await caretColor(bob), 'Ann and Bob share a caret colour')

  // "saved" is Tandem's sync status: every edit is committed.
  for (const page of [ann, bob]) {
    await page.waitForFunction(() => document.querySelector('#status').textContent === 'saved', null, { timeout: 10000 })
  }
  const res = await fetch(`${server.url}/api/documents/${doc}/state`)
  assert.equal(res.status, 200)
  const stored = new Y.Doc()
  Y.applyUpdate(stored, new Uint8Array(await res.arrayBuffer()))
  const xml = stored.getXmlFragment('default').toString()
  assert.ok(xml.includes('Ann writes here.') && xml.includes('Bob writes there.'), xml)

  await ann.screenshot({ path: path.join(ensureArtifactsDir(), 'tiptap-ann.png') })
})
