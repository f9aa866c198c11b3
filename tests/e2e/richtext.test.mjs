// Rich text typed in Tiptap (examples/tiptap, in Chromium) as Tandem reads it: the version
// rows in `document_history` (queried with SQL, SQLite and PostgreSQL), the export in every
// format, and a restore while a second Tiptap tab is open: both tabs show the restored text.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { build } from 'esbuild'
import * as Y from 'yjs'
import { startServer, launchBrowser, repoRoot } from './harness.mjs'

const exampleDir = path.join(repoRoot, 'examples/tiptap')
const pgAdmin = process.env.TANDEM_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

let browser
let pages
let pageOrigin
const cleanups = []

before(async () => {
  const result = await build({
    entryPoints: [path.join(exampleDir, 'main.js')],
    bundle: true,
    format: 'esm',
    write: false,
    logLevel: 'silent',
    nodePaths: [path.join(repoRoot, 'tests/e2e/node_modules')]
  })
  const bundle = result.outputFiles[0].text
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
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  pages?.close()
  for (const fn of cleanups.reverse()) await fn()
})

async function openEditor (server, name, doc) {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } })
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message))
  const wsOrigin = server.url.replace(/^http/, 'ws')
  await page.goto(`${pageOrigin}/?server=${encodeURIComponent(wsOrigin)}&doc=${doc}&name=${name}`)
  await page.waitForFunction(() => window.tiptapDemo?.provider.synced, null, { timeout: 8000 })
  return page
}

const editorText = (page) => page.evaluate(() => window.tiptapDemo.editor.getText())
const saved = (page) => page.waitForFunction(() => document.querySelector('#status').textContent === 'saved', null, { timeout: 10000 })

/** One row of `document_history` as `text|format`, through the database's own client. */
function historyRow (backend, server, doc, version) {
  const sql = `SELECT text || '|' || format FROM document_history WHERE document = '${doc}' AND version = ${version}`
  if (backend.name === 'sqlite') {
    return execFileSync('sqlite3', [path.join(server.dataDir, 'tandem.db'), sql], { encoding: 'utf8' }).trim()
  }
  return execFileSync('psql', [backend.url, '-At', '-c', sql], { encoding: 'utf8' }).trim()
}

function postgresDatabase () {
  const name = `tandem_e2e_rich_${process.pid}_${Date.now()}`
  execFileSync('psql', [pgAdmin, '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' })
  cleanups.push(() => execFileSync('psql', [pgAdmin, '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: 'ignore' }))
  return pgAdmin.replace(/\/[^/]*$/, `/${name}`)
}

const backends = [{ name: 'sqlite' }, { name: 'postgres' }]

for (const backend of backends) {
  test(`Tiptap rich text in history, exports and restore (${backend.name})`, { timeout: 80000 }, async () => {
    const args = ['--named-version-interval-secs', '0', '--version-idle-secs', '3600']
    if (backend.name === 'postgres') {
      backend.url = postgresDatabase()
      args.push('--database-url', backend.url)
    }
    const server = await startServer(args)
    cleanups.push(() => server.stop())
    const doc = `rich-e2e-${backend.name}`
    const ann = await openEditor(server, 'Ann', doc)

    // Typed as a person would: Markdown shortcuts and Ctrl+B, which Tiptap turns into nodes.
    await ann.click('.ProseMirror')
    await ann.keyboard.type('# Title', { delay: 10 })
    await ann.keyboard.press('Enter')
    await ann.keyboard.type('Hello ', { delay: 10 })
    await ann.keyboard.press('Control+b')
    await ann.keyboard.type('world', { delay: 10 })
    await ann.keyboard.press('Control+b')
    await ann.keyboard.press('Enter')
    await ann.keyboard.type('- one', { delay: 10 })
    await saved(ann)

    const v = await fetch(`${server.url}/api/documents/${doc}/versions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'typed' })
    })
    assert.equal(v.status, 201)
    const version = (await v.json()).version
    assert.equal(historyRow(backend, server, doc, version), 'Title\n\nHello world\n\none|rich')

    const exported = async (format) => {
      const res = await fetch(`${server.url}/api/documents/${doc}/export?format=${format}`)
      assert.equal(res.status, 200, format)
      return format === 'yjs' ? new Uint8Array(await res.arrayBuffer()) : res.text()
    }
    assert.equal(await exported('txt'), 'Title\n\nHello world\n\none')
    assert.equal(await exported('md'), '# Title\n\nHello **world**\n\n- one\n')
    assert.equal(await exported('html'),
      // StarterKit keeps an empty paragraph after a list (its trailing node).
      '<h1>Title</h1>\n<p>Hello <strong>world</strong></p>\n<ul>\n<li><p>one</p>\n</li>\n</ul>\n<p></p>\n')
    const json = JSON.parse(await exported('json'))
    assert.deepEqual(json.content.map((n) => n.type), ['heading', 'paragraph', 'bulletList', 'paragraph'])
    assert.deepEqual(json.content[1].content[1], { type: 'text', text: 'world', marks: [{ type: 'bold', attrs: {} }] })
    const replica = new Y.Doc()
    Y.applyUpdate(replica, await exported('yjs'))
    assert.match(replica.getXmlFragment('default').toString(), /<heading level="1">Title<\/heading>/)

    // A second tab; then more typing, then a restore of the version: both tabs show it.
    const typedHtml = await ann.evaluate(() => window.tiptapDemo.editor.getHTML())
    const typedText = await editorText(ann)
    const bob = await openEditor(server, 'Bob', doc)
    await ann.keyboard.type(' and more', { delay: 10 })
    await saved(ann)
    for (const page of [ann, bob]) {
      await page.waitForFunction(() => window.tiptapDemo.editor.getText().includes('and more'), null, { timeout: 10000 })
    }
    const restored = await fetch(`${server.url}/api/documents/${doc}/versions/${version}/restore`, { method: 'POST' })
    assert.equal(restored.status, 200)
    for (const page of [ann, bob]) {
      await page.waitForFunction(() => !window.tiptapDemo.editor.getText().includes('and more'), null, { timeout: 10000 })
      assert.equal(await editorText(page), typedText)
      assert.equal(await page.evaluate(() => window.tiptapDemo.editor.getHTML()), typedHtml)
    }
    assert.equal(await exported('txt'), 'Title\n\nHello world\n\none')
    await ann.context().close()
    await bob.context().close()
  })
}
