// The built-in editor on a rich document: "New document" as rich text opens Tiptap; two
// people (one over WebSocket, one over SSE) type with formatting and each sees the other's
// text, marks, caret and presence; the save badge reaches "Saved"; a reload brings the text
// back; the history previews a rich version; Markdown and HTML downloads come from the
// server's renderers; a restore reaches both editors; the list says which kind each document is.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as Y from 'yjs'
import { execFileSync } from 'node:child_process'
import { startServer, launchBrowser, waitForStatus, serverBin, serverEnv } from './harness.mjs'

let server
let browser

before(async () => {
  server = await startServer(['--version-idle-secs', '1'])
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

async function open (name, url) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 750 }, acceptDownloads: true })
  await context.addInitScript((n) => { try { localStorage.setItem('tandem:name', n) } catch {} }, name)
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message))
  page.on('dialog', (d) => d.accept())
  await page.goto(url)
  return { context, page }
}

/** The rich editor's document as HTML, without other people's carets (decorations). */
const richHtml = (page) => page.evaluate(() => {
  const el = document.querySelector('.ProseMirror')?.cloneNode(true)
  if (!el) return null
  for (const c of el.querySelectorAll('.collaboration-carets__caret, .ProseMirror-separator, .ProseMirror-trailingBreak')) c.remove()
  // The placeholder is a decoration on the empty paragraph where the caret is.
  for (const p of el.querySelectorAll('[data-placeholder]')) p.removeAttribute('data-placeholder')
  for (const p of el.querySelectorAll('.is-empty, .is-editor-empty')) p.classList.remove('is-empty', 'is-editor-empty')
  for (const p of el.querySelectorAll('[class=""]')) p.removeAttribute('class')
  return el.innerHTML
})

async function waitFor (what, f, timeout = 20000) {
  const deadline = Date.now() + timeout
  let last
  while (Date.now() < deadline) {
    last = await f()
    if (last) return last
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
}

test('a rich document: create, type with two people, reload, history, downloads, list kind', { timeout: 90000 }, async () => {
  // A plain document next to it, for the list's badges.
  await fetch(`${server.url}/api/documents`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Plain notes' }) })

  const ann = await open('Ann', `${server.url}/`)
  await ann.page.fill('#new-doc-title', 'Rich notes')
  await ann.page.check('#new-doc-rich')
  await ann.page.click('.create-form button[type=submit]')
  await ann.page.waitForURL(/\/d\/rich-notes$/)
  await ann.page.waitForSelector('.ProseMirror')
  assert.equal(await ann.page.$('.cm-content'), null, 'a rich document must not open in CodeMirror')
  const meta = await (await fetch(`${server.url}/api/documents/rich-notes`)).json()
  assert.equal(meta.kind, 'rich')

  // Bob over SSE: the rich editor rides on whichever transport the page picked.
  const bob = await open('Bob', `${server.url}/d/rich-notes?transport=sse`)
  await bob.page.waitForSelector('.ProseMirror')
  await waitForStatus(ann.page, 'connected', 'websocket')
  await waitForStatus(bob.page, 'connected', 'sse')

  // Ann: a heading (Markdown shortcut) and bold text through the toolbar.
  await ann.page.click('.ProseMirror')
  await ann.page.keyboard.type('# Plan for Monday')
  await ann.page.keyboard.press('Enter')
  await ann.page.click('#rich-toolbar [data-tool=bold]')
  assert.equal(await ann.page.getAttribute('#rich-toolbar [data-tool=bold]', 'aria-pressed'), 'true')
  await ann.page.keyboard.type('Ship it')
  await ann.page.click('#rich-toolbar [data-tool=bold]')
  await ann.page.keyboard.type(' today.')
  const annDone = (html) => html?.includes('<h1>Plan for Monday</h1>') && html.includes('<strong>Ship it</strong> today.')
  await waitFor('Ann\'s text in Bob\'s editor', async () => annDone(await richHtml(bob.page)))

  // Bob: an italic list item at the end, with the keyboard shortcut.
  await bob.page.click('.ProseMirror p')
  await bob.page.keyboard.press('End')
  await bob.page.keyboard.press('Enter')
  await bob.page.keyboard.type('- ')
  await bob.page.keyboard.press('Control+i')
  await bob.page.keyboard.type('Bob checks')
  const both = (html) => annDone(html) && /<ul><li><p><em>Bob checks<\/em><\/p><\/li><\/ul>/.test(html)
  const html = await waitFor('both texts in both editors', async () => {
    const [a, b] = await Promise.all([richHtml(ann.page), richHtml(bob.page)])
    return a === b && both(a) ? a : null
  })

  // Each sees the other present, and the other's named caret.
  for (const [page, other] of [[ann.page, 'Bob'], [bob.page, 'Ann']]) {
    await waitFor(`${other} in the presence list`, () => page.evaluate((n) =>
      Array.from(document.querySelectorAll('#presence .pname')).some((e) => e.textContent === n), other))
  }
  await ann.page.click('.ProseMirror h1')
  await waitFor('Ann\'s caret label in Bob\'s editor', () => bob.page.evaluate(() =>
    Array.from(document.querySelectorAll('.collaboration-carets__label')).some((e) => e.textContent === 'Ann')))

  // Saved on the server: the badge says so, and the server's Markdown has both.
  for (const page of [ann.page, bob.page]) {
    await page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved', null, { timeout: 20000 })
  }

  // A reload opens the rich editor again with the same content.
  await bob.page.reload()
  await bob.page.waitForSelector('.ProseMirror h1')
  await waitFor('the content after a reload', async () => (await richHtml(bob.page)) === html)

  // History: the automatic version holding both texts (the server renders its text),
  // previewed with its structure.
  const version = await waitFor('a version with both texts', async () => {
    const { versions } = await (await fetch(`${server.url}/api/documents/rich-notes/versions`)).json()
    if (versions.length === 0) return null
    const v = await (await fetch(`${server.url}/api/documents/rich-notes/versions/${versions[0].version}`)).json()
    return v.text?.includes('Bob checks') && v.text.includes('Ship it') ? v : null
  }, 30000)
  assert.equal(version.format, 'rich')
  await ann.page.click('#toggle-history')
  // The version exists already: opening the panel lists it.
  await ann.page.click(`#version-list li[data-version="${version.version}"] button`)
  await ann.page.waitForSelector('#version-preview .rich-preview h1')
  const preview = await ann.page.$eval('#version-preview .rich-preview', (e) => e.innerHTML)
  assert.match(preview, /<h1>Plan for Monday<\/h1>/)
  assert.match(preview, /<strong>Ship it<\/strong>/)
  assert.match(preview, /<em>Bob checks<\/em>/)

  // Restore it after Bob adds a line: both editors drop the line.
  await bob.page.click('.ProseMirror em')
  await bob.page.keyboard.press('End')
  await bob.page.keyboard.press('Enter')
  await bob.page.keyboard.type('Later edit')
  await waitFor('Bob\'s later edit in Ann\'s editor', async () => (await richHtml(ann.page))?.includes('Later edit'))
  await bob.page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved', null, { timeout: 20000 })
  // Compared with now (the server's text of both), the version lacks Bob's line.
  await ann.page.click('#version-preview button.compare')
  await ann.page.waitForSelector('#version-preview .diff')
  const added = await ann.page.$$eval('#version-preview .diff .d-add', (es) => es.map((e) => e.textContent.slice(2)))
  assert.deepEqual(added.filter((l) => l.trim() !== ''), ['Later edit'])
  assert.deepEqual(await ann.page.$$eval('#version-preview .diff .d-del', (es) => es.length), 0)
  await ann.page.click('#version-preview button.restore')
  for (const page of [ann.page, bob.page]) {
    await waitFor('the restored content', async () => (await richHtml(page)) === html)
  }

  // Downloads: the rich formats, rendered by the server.
  const options = await ann.page.$$eval('#export-menu [role=menuitem]', (os) => os.map((o) => o.dataset.value))
  assert.deepEqual(options, ['md', 'html', 'json', 'txt', 'yjs'])
  const fetchDownload = async (format) => {
    const [d] = await Promise.all([ann.page.waitForEvent('download'), ann.page.click('#export').then(() => ann.page.click(`#export-menu [data-value=${format}]`))])
    assert.equal(d.suggestedFilename(), `Rich notes.${format}`)
    return readFileSync(await d.path(), 'utf8')
  }
  const md = await fetchDownload('md')
  assert.match(md, /^# Plan for Monday$/m)
  assert.match(md, /\*\*Ship it\*\* today\./)
  assert.match(md, /^[-*] _Bob checks_$|^[-*] \*Bob checks\*$/m)
  const htmlFile = await fetchDownload('html')
  assert.match(htmlFile, /<h1>Plan for Monday<\/h1>/)
  assert.match(htmlFile, /<strong>Ship it<\/strong>/)
  assert.match(htmlFile, /<em>Bob checks<\/em>/)

  // The list: each document's kind, in words.
  await ann.page.goto(`${server.url}/`)
  await ann.page.waitForSelector('tr[data-doc="rich-notes"]')
  const badge = (doc) => ann.page.$eval(`tr[data-doc="${doc}"] .kind-badge`, (e) => e.textContent.trim())
  assert.match(await badge('rich-notes'), /Rich text$/)
  assert.match(await badge('plain-notes'), /Plain text$/)

  await Promise.all([ann.context.close(), bob.context.close()])
})

test('an empty plain editor turns rich when rich content arrives (a Tiptap app wrote first)', { timeout: 60000 }, async () => {
  const { page, context } = await open('Cleo', `${server.url}/d/tiptap-first`)
  await page.waitForSelector('.cm-content')
  await waitForStatus(page, 'connected')
  // What a Tiptap app writes: a paragraph in the Y.XmlFragment named "default".
  const src = new Y.Doc()
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText('Written by another Tiptap app')])
  src.getXmlFragment('default').insert(0, [p])
  const res = await fetch(`${server.url}/api/documents/tiptap-first/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(src),
  })
  assert.ok(res.ok, `update refused: ${res.status}`)
  await waitFor('the rich editor with the content', async () => (await richHtml(page)) === '<p>Written by another Tiptap app</p>')
  assert.equal(await page.$('.cm-content'), null)
  await context.close()
})

test('a view-only link opens a rich document read-only: no typing, toolbar disabled', { timeout: 60000 }, async () => {
  const secret = 'e2e-rich-secret-0123456789abcdef0123'
  const mint = (args) => execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
  const guarded = await startServer(['--secret', secret])
  try {
    const doc = 'rich-view-only'
    const writeToken = mint(['--doc', doc, '--access', 'write', '--name', 'Writer'])
    const readToken = mint(['--doc', doc, '--access', 'read', '--name', 'Reader'])
    const created = await fetch(`${guarded.url}/api/documents`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${writeToken}` },
      body: JSON.stringify({ name: doc, kind: 'rich' }),
    })
    assert.equal(created.status, 201)
    const writer = await open('ignored', `${guarded.url}/d/${doc}?token=${writeToken}`)
    await writer.page.waitForSelector('.ProseMirror[contenteditable=true]')
    await writer.page.click('.ProseMirror')
    await writer.page.keyboard.type('## Only the writer writes')
    const reader = await open('ignored', `${guarded.url}/d/${doc}?token=${readToken}`)
    await reader.page.waitForSelector('.ProseMirror h2')
    // (Tiptap keeps an empty paragraph after a heading, to type into.)
    const written = '<h2>Only the writer writes</h2><p></p>'
    await waitFor('the writer\'s heading for the reader', async () => (await richHtml(reader.page)) === written)
    assert.equal(await reader.page.$eval('#readonly-badge', (e) => e.hidden), false)
    assert.equal(await reader.page.getAttribute('.ProseMirror', 'contenteditable'), 'false')
    assert.ok(await reader.page.$$eval('#rich-toolbar button', (bs) => bs.length > 0 && bs.every((b) => b.disabled)))
    await reader.page.click('.ProseMirror h2')
    await reader.page.keyboard.type('READER TRIED')
    assert.equal(await richHtml(reader.page), written)
    // The reader's editor wrote nothing of its own: nothing waits to be saved.
    await reader.page.waitForFunction(() => document.getElementById('conn-status').dataset.save === 'saved', null, { timeout: 10000 })
    await Promise.all([writer.context.close(), reader.context.close()])
  } finally {
    await guarded.stop()
  }
})

test('the history preview of a hostile rich version shows its text, and no markup or script link', { timeout: 60000 }, async () => {
  const doc = 'rich-hostile'
  // What any writer could send: markup as text, a script link, a heading level that is markup.
  const src = new Y.Doc()
  const heading = new Y.XmlElement('heading')
  heading.setAttribute('level', '1><img src=x onerror="window.__pwned=1">')
  heading.insert(0, [new Y.XmlText('<img src=x onerror="window.__pwned=1">')])
  const para = new Y.XmlElement('paragraph')
  const text = new Y.XmlText()
  text.insert(0, 'click me', { link: { href: 'javascript:window.__pwned=1' } })
  para.insert(0, [text])
  src.getXmlFragment('default').insert(0, [heading, para])
  const res = await fetch(`${server.url}/api/documents/${doc}/updates`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(src),
  })
  assert.ok(res.ok, `update refused: ${res.status}`)
  await waitFor('a version', async () => (await (await fetch(`${server.url}/api/documents/${doc}/versions`)).json()).versions.length > 0)

  const { page, context } = await open('Cleo', `${server.url}/d/${doc}`)
  await page.waitForSelector('.ProseMirror')
  await page.click('#toggle-history')
  await page.click('#version-list li[data-version="1"] button')
  await page.waitForSelector('#version-preview .rich-preview')
  const seen = await page.$eval('#version-preview .rich-preview', (box) => ({
    imgs: box.querySelectorAll('img').length,
    text: box.textContent,
    hrefs: Array.from(box.querySelectorAll('a')).map((a) => a.getAttribute('href')),
    handlers: Array.from(box.querySelectorAll('*')).flatMap((e) => e.getAttributeNames().filter((n) => n.startsWith('on'))),
  }))
  assert.equal(seen.imgs, 0)
  assert.match(seen.text, /<img src=x onerror="window.__pwned=1">/)
  assert.match(seen.text, /click me/)
  assert.ok(seen.hrefs.every((h) => !/script/i.test(h ?? '')), `hrefs: ${JSON.stringify(seen.hrefs)}`)
  assert.deepEqual(seen.handlers, [])
  await page.click('#version-preview a').catch(() => {})
  assert.equal(await page.evaluate(() => window.__pwned), undefined)
  await context.close()
})

test('rich text typed offline survives a closed tab and reaches the server when it is back', { timeout: 90000 }, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-rich-offline-'))
  let srv = await startServer([], { dataDir })
  const listen = srv.url.replace(/^http:\/\//, '')
  const doc = 'rich-offline'
  const serverText = async () => (await (await fetch(`${srv.url}/api/documents/${doc}/export?format=txt`)).text()).trim()
  const saveState = (page) => page.$eval('#conn-status', (e) => e.dataset.save)
  const waitSave = (page, state) => page.waitForFunction((s) => document.getElementById('conn-status').dataset.save === s, state, { timeout: 20000 })
  try {
    await fetch(`${srv.url}/api/documents`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: doc, kind: 'rich' }) })
    const { context, page } = await open('Ann', `${srv.url}/d/${doc}`)
    await page.waitForSelector('.ProseMirror')
    await waitSave(page, 'saved')
    await page.click('.ProseMirror')
    await page.keyboard.type('Online. ')
    await waitSave(page, 'saved')
    assert.equal(await serverText(), 'Online.')

    await srv.stop()
    await waitSave(page, 'offline')
    const stored = () => page.evaluate((name) => new Promise((resolve) => {
      const req = indexedDB.open(name)
      req.onsuccess = () => {
        const c = req.result.transaction('updates').objectStore('updates').count()
        c.onsuccess = () => { req.result.close(); resolve(c.result) }
      }
    }), `tandem:${doc}`)
    const before = await stored()
    const offline = 'Typed offline.'
    await page.keyboard.type(offline)
    assert.equal(await saveState(page), 'offline')
    // One update per keystroke: close the tab once the browser has stored them all.
    await waitFor('the offline edits in IndexedDB', async () => (await stored()) >= before + offline.length)
    await page.close()

    srv = await startServer([], { dataDir, listen })
    assert.equal(await serverText(), 'Online.', 'the server never saw the offline edits')
    const reopened = await context.newPage()
    await reopened.goto(`${srv.url}/d/${doc}`)
    await reopened.waitForSelector('.ProseMirror')
    await waitSave(reopened, 'saved')
    assert.equal(await serverText(), 'Online. Typed offline.')
    await context.close()
  } finally {
    await srv.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})
