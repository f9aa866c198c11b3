// Rich text as Tandem reads it, against the reference: random ProseMirror documents in a
// StarterKit-like schema are turned into Yjs by y-prosemirror, sent to a live server, and
// the server's ProseMirror JSON export must equal y-prosemirror's own reading of the same
// Yjs document; its Markdown export, parsed by markdown-it (an independent CommonMark
// parser), must hold the same text.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'

import { Schema } from 'prosemirror-model'
import { prosemirrorJSONToYDoc, yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'
import MarkdownIt from 'markdown-it'

import {
  startServer, freshDataDir, uniqueDocName, httpGet, docPath, mulberry32, randInt, Y
} from '../lib/harness.mjs'

const schema = new Schema({
  nodes: {
    doc: { content: 'block+' },
    paragraph: { group: 'block', content: 'inline*' },
    heading: { group: 'block', content: 'inline*', attrs: { level: { default: 1 } } },
    blockquote: { group: 'block', content: 'block+' },
    bulletList: { group: 'block', content: 'listItem+' },
    orderedList: { group: 'block', content: 'listItem+', attrs: { start: { default: 1 } } },
    listItem: { content: 'paragraph block*' },
    taskList: { group: 'block', content: 'taskItem+' },
    taskItem: { content: 'paragraph block*', attrs: { checked: { default: false } } },
    codeBlock: { group: 'block', content: 'text*', marks: '', code: true, attrs: { language: { default: null } } },
    horizontalRule: { group: 'block' },
    hardBreak: { group: 'inline', inline: true },
    text: { group: 'inline' }
  },
  marks: {
    link: { attrs: { href: {} }, inclusive: false },
    bold: {},
    italic: {},
    strike: {},
    code: {}
  }
})

// Letters, spaces and every character Markdown gives a meaning to.
const ALPHABET = 'abcdefghij klmnop ABC 0123456789 *_`[]()<>#&~!\\-+=.|:"\'/é😀'
const MARKS = ['bold', 'italic', 'strike', 'code', 'link']

function randomText (rand) {
  let s = ''
  const n = randInt(rand, 1, 12)
  for (let i = 0; i < n; i++) s += [...ALPHABET][randInt(rand, 0, [...ALPHABET].length - 1)]
  return s
}

function randomInline (rand) {
  const out = []
  const n = randInt(rand, 0, 5)
  for (let i = 0; i < n; i++) {
    if (rand() < 0.1) {
      out.push({ type: 'hardBreak' })
      continue
    }
    const marks = []
    for (const m of MARKS) {
      if (rand() < 0.2) {
        marks.push(m === 'link'
          ? { type: 'link', attrs: { href: rand() < 0.5 ? 'https://example.com/a?b=1' : '/rel ative' } }
          : { type: m })
      }
    }
    const node = { type: 'text', text: randomText(rand) }
    if (marks.length) node.marks = marks
    out.push(node)
  }
  return out
}

function randomBlock (rand, depth) {
  const pick = depth > 2 ? randInt(rand, 0, 2) : randInt(rand, 0, 8)
  const inline = (type, attrs) => {
    const node = { type, content: randomInline(rand) }
    if (attrs) node.attrs = attrs
    if (!node.content.length) delete node.content
    return node
  }
  const item = (type, attrs) => {
    const content = [inline('paragraph')]
    if (rand() < 0.3) content.push(randomBlock(rand, depth + 1))
    return attrs ? { type, attrs, content } : { type, content }
  }
  const items = (make) => Array.from({ length: randInt(rand, 1, 3) }, make)
  switch (pick) {
    case 0: case 1: return inline('paragraph')
    case 2: return inline('heading', { level: randInt(rand, 1, 6) })
    case 3: return { type: 'blockquote', content: items(() => randomBlock(rand, depth + 1)) }
    case 4: return { type: 'bulletList', content: items(() => item('listItem')) }
    case 5: return { type: 'orderedList', attrs: { start: randInt(rand, 1, 12) }, content: items(() => item('listItem')) }
    case 6: return { type: 'taskList', content: items(() => item('taskItem', { checked: rand() < 0.5 })) }
    case 7: {
      const code = { type: 'codeBlock', attrs: { language: rand() < 0.5 ? 'js' : null } }
      const text = randomText(rand) + (rand() < 0.5 ? '\n' + randomText(rand) : '')
      code.content = [{ type: 'text', text }]
      return code
    }
    default: return { type: 'horizontalRule' }
  }
}

function randomDoc (rand) {
  return { type: 'doc', content: Array.from({ length: randInt(rand, 1, 5) }, () => randomBlock(rand, 0)) }
}

/** Marks in a fixed order (a Yjs delta keeps them in the order a client set them). */
function sortMarks (node) {
  if (Array.isArray(node)) return node.map(sortMarks)
  if (node && typeof node === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(node)) out[k] = sortMarks(v)
    if (out.marks) out.marks.sort((a, b) => a.type.localeCompare(b.type))
    return out
  }
  return node
}

/** Text with every run of whitespace as one space: Markdown does not keep line layout. */
const squash = (s) => s.replace(/\s+/g, ' ').trim()

/** The text of a ProseMirror document, block by block. */
function proseMirrorText (json) {
  const node = schema.nodeFromJSON(json)
  return squash(node.textBetween(0, node.content.size, '\n', (leaf) => leaf.type.name === 'hardBreak' ? '\n' : ''))
}

/** The text markdown-it reads from `markdown`, task markers (not CommonMark) left out. */
function markdownText (markdown) {
  const md = new MarkdownIt('commonmark').enable('strikethrough')
  const parts = []
  let inItem = 0
  for (const token of md.parse(markdown, {})) {
    if (token.type === 'list_item_open') inItem++
    if (token.type === 'list_item_close') inItem--
    if (token.type === 'inline') {
      let text = ''
      for (const child of token.children) {
        if (child.type === 'text' || child.type === 'code_inline' || child.type === 'html_inline') text += child.content
        if (child.type === 'softbreak' || child.type === 'hardbreak') text += '\n'
      }
      if (inItem) text = text.replace(/^\[[ x]\] ?/, '')
      parts.push(text)
    }
    if (token.type === 'fence' || token.type === 'code_block') parts.push(token.content)
  }
  return squash(parts.join('\n'))
}

const data = freshDataDir('rich')
const server = await startServer({ dataDir: data.dir })
after(async () => {
  await server.stop()
  data.cleanup()
})

const SEED = Number(process.env.RICH_SEED || 20261207)
const RUNS = Number(process.env.RICH_RUNS || 150)

test(`random ProseMirror documents: JSON equals y-prosemirror's, Markdown keeps the text (seed ${SEED}, ${RUNS} runs)`, async () => {
  const rand = mulberry32(SEED)
  for (let run = 0; run < RUNS; run++) {
    const json = randomDoc(rand)
    schema.nodeFromJSON(json).check()
    const ydoc = prosemirrorJSONToYDoc(schema, json, 'default')
    const expected = sortMarks(yXmlFragmentToProsemirrorJSON(ydoc.getXmlFragment('default')))
    const name = uniqueDocName('rich')
    const res = await fetch(`${server.url}/api/documents/${docPath(name)}/updates`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Y.encodeStateAsUpdate(ydoc)
    })
    assert.equal(res.status, 204, `run ${run}: update accepted`)
    const exported = await httpGet(`${server.url}/api/documents/${docPath(name)}/export?format=json`)
    assert.equal(exported.status, 200)
    const context = `run ${run} of seed ${SEED}: ${JSON.stringify(json)}`
    assert.deepEqual(sortMarks(JSON.parse(exported.body)), expected, context)

    const md = await httpGet(`${server.url}/api/documents/${docPath(name)}/export?format=md`)
    assert.equal(markdownText(md.body), proseMirrorText(json), `${context}\n--- markdown ---\n${md.body}`)
  }
})
