#!/usr/bin/env node
// A small stand-in for `tandem serve`, following docs/PROTOCOL.md, used only to develop the
// web client and these tests while the Rust server is being written:
//   TANDEM_BIN=tests/e2e/mock-server.mjs npm test --prefix tests/e2e
// It keeps everything in memory and implements just what the browser tests touch.
import http from 'node:http'
import { readFileSync, existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import * as sync from 'y-protocols/sync'
import * as aw from 'y-protocols/awareness'
import * as enc from 'lib0/encoding'
import * as dec from 'lib0/decoding'

const argv = process.argv.slice(2)
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt }
const [host, port] = arg('--listen', '127.0.0.1:0').split(':')
const webDir = arg('--web-dir', 'web/dist')
const disabled = (arg('--disable-transports', '') || '').split(',').filter(Boolean)
const transports = ['websocket', 'sse', 'poll'].filter((t) => !disabled.includes(t))
const NAME = /^[A-Za-z0-9\-_.~:]{1,128}$/
const validName = (n) => NAME.test(n) && !n.startsWith('.')

const rooms = new Map()
function room (name) {
  let r = rooms.get(name)
  if (r) return r
  const doc = new Y.Doc()
  const awareness = new aw.Awareness(doc)
  awareness.setLocalState(null)
  const now = new Date().toISOString()
  r = { name, doc, awareness, peers: new Set(), created_at: now, updated_at: now, versions: [] }
  doc.on('update', (u, origin) => {
    r.updated_at = new Date().toISOString()
    const m = msg((e) => { enc.writeVarUint(e, 0); sync.writeUpdate(e, u) })
    for (const p of r.peers) if (p !== origin) p.send(m)
  })
  awareness.on('update', ({ added, updated, removed }, origin) => {
    const changed = added.concat(updated, removed)
    if (origin && origin.clients) {
      for (const c of added.concat(updated)) origin.clients.add(c)
      for (const c of removed) origin.clients.delete(c)
    }
    const m = msg((e) => { enc.writeVarUint(e, 1); enc.writeVarUint8Array(e, aw.encodeAwarenessUpdate(awareness, changed)) })
    for (const p of r.peers) p.send(m)
  })
  rooms.set(name, r)
  return r
}
const msg = (f) => { const e = enc.createEncoder(); f(e); return enc.toUint8Array(e) }
const info = (r) => ({
  name: r.name, created_at: r.created_at, updated_at: r.updated_at,
  size_bytes: Y.encodeStateAsUpdate(r.doc).length, connections: r.peers.size,
  users: [...new Set([...r.awareness.getStates().values()].map((s) => s.user?.name).filter(Boolean))],
})

function join (r, send) {
  const peer = { send, clients: new Set() }
  r.peers.add(peer)
  send(msg((e) => { enc.writeVarUint(e, 0); sync.writeSyncStep1(e, r.doc) }))
  const states = [...r.awareness.getStates().keys()]
  if (states.length) send(msg((e) => { enc.writeVarUint(e, 1); enc.writeVarUint8Array(e, aw.encodeAwarenessUpdate(r.awareness, states)) }))
  return peer
}
function leave (r, peer) {
  r.peers.delete(peer)
  aw.removeAwarenessStates(r.awareness, [...peer.clients], null)
}
function receive (r, peer, bytes) {
  const d = dec.createDecoder(bytes)
  while (dec.hasContent(d)) {
    const type = dec.readVarUint(d)
    if (type === 0) {
      const e = enc.createEncoder()
      enc.writeVarUint(e, 0)
      sync.readSyncMessage(d, e, r.doc, peer)
      if (enc.length(e) > 1) peer.send(enc.toUint8Array(e))
    } else if (type === 1) {
      aw.applyAwarenessUpdate(r.awareness, dec.readVarUint8Array(d), peer)
    } else return
  }
}

// HTTP sessions shared by SSE and polling: a log of base64 messages with sequence numbers.
const sessions = new Map()
function newSession (r) {
  const s = { id: randomUUID(), room: r, log: [], seq: 0, waiters: new Set(), sse: null, touched: Date.now() }
  s.peer = join(r, (m) => {
    s.seq++
    const b64 = Buffer.from(m).toString('base64')
    s.log.push({ seq: s.seq, b64 })
    if (s.sse) s.sse.write(`id: ${s.id}:${s.seq}\ndata: ${b64}\n\n`)
    for (const w of s.waiters) w()
  })
  sessions.set(s.id, s)
  return s
}

const json = (res, status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)) }
const err = (res, status, message) => json(res, status, { error: message })
const readBody = (req) => new Promise((resolve) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => resolve(Buffer.concat(c))) })
const mime = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' }

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x')
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
  const m = req.method
  try {
    if (parts[0] === 'api') {
      if (parts[1] === 'config') return json(res, 200, { transports, auth: 'open', version: '0.0.0-mock' })
      if (parts[1] !== 'documents') return err(res, 404, 'not found')
      if (parts.length === 2 && m === 'GET') {
        return json(res, 200, { documents: [...rooms.values()].map(info).sort((a, b) => b.updated_at.localeCompare(a.updated_at)) })
      }
      if (parts.length === 2 && m === 'POST') {
        const { name } = JSON.parse((await readBody(req)).toString() || '{}')
        if (typeof name !== 'string' || !validName(name)) return err(res, 400, 'invalid document name')
        if (rooms.has(name)) return err(res, 409, 'document already exists')
        return json(res, 201, info(room(name)))
      }
      const name = parts[2]
      if (!validName(name)) return err(res, 400, 'invalid document name')
      const r = rooms.get(name)
      if (!r) return err(res, 404, 'no such document')
      const text = () => r.doc.getText('content').toString()
      const snapshot = (kind, label) => {
        const v = { version: r.versions.length + 1, created_at: new Date().toISOString(), kind, label,
          size_bytes: Y.encodeStateAsUpdate(r.doc).length, text_length: text().length, text: text() }
        r.versions.push(v)
        const { text: _t, ...pub } = v
        return pub
      }
      if (parts.length === 3) return json(res, 200, info(r))
      if (parts[3] === 'text') { res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }); return res.end(text()) }
      if (parts[3] === 'versions') {
        if (parts.length === 4 && m === 'GET') {
          return json(res, 200, { versions: r.versions.map(({ text: _t, ...v }) => v).reverse() })
        }
        if (parts.length === 4 && m === 'POST') {
          const { label } = JSON.parse((await readBody(req)).toString() || '{}')
          return json(res, 201, snapshot('named', label ?? null))
        }
        const v = r.versions[Number(parts[4]) - 1]
        if (!v) return err(res, 404, 'no such version')
        if (parts.length === 5) return json(res, 200, v)
        if (parts[5] === 'restore' && m === 'POST') {
          const t = r.doc.getText('content')
          r.doc.transact(() => { t.delete(0, t.length); t.insert(0, v.text) })
          return json(res, 200, snapshot('restore', null))
        }
      }
      return err(res, 404, 'not found')
    }
    if (parts[0] === 'sse' && transports.includes('sse')) {
      if (m === 'GET' && parts.length === 2) {
        const r = room(parts[1])
        const last = req.headers['last-event-id']
        let s = last ? sessions.get(String(last).split(':')[0]) : null
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
        if (s && s.room === r) {
          const from = Number(String(last).split(':')[1])
          for (const e of s.log) if (e.seq > from) res.write(`id: ${s.id}:${e.seq}\ndata: ${e.b64}\n\n`)
        } else {
          s = newSession(r)
          res.write(`event: session\ndata: ${JSON.stringify({ session: s.id })}\n\n`)
          for (const e of s.log) res.write(`id: ${s.id}:${e.seq}\ndata: ${e.b64}\n\n`)
        }
        s.sse = res
        const hb = setInterval(() => res.write(': hb\n\n'), 15000)
        req.on('close', () => { clearInterval(hb); if (s.sse === res) s.sse = null })
        return
      }
      if (m === 'POST' && parts.length === 3) {
        const s = sessions.get(parts[2])
        if (!s) return err(res, 410, 'session expired')
        receive(s.room, s.peer, new Uint8Array(await readBody(req)))
        res.writeHead(204); return res.end()
      }
    }
    if (parts[0] === 'poll' && transports.includes('poll')) {
      if (m === 'POST' && parts.length === 2) return json(res, 201, { session: newSession(room(parts[1])).id })
      const s = sessions.get(parts[2])
      if (!s) return err(res, 410, 'session expired')
      if (m === 'POST') { receive(s.room, s.peer, new Uint8Array(await readBody(req))); res.writeHead(204); return res.end() }
      if (m === 'DELETE') { leave(s.room, s.peer); sessions.delete(s.id); res.writeHead(204); return res.end() }
      if (m === 'GET') {
        const cursor = Number(url.searchParams.get('cursor') || 0)
        if (s.seq <= cursor) {
          await new Promise((resolve) => {
            const done = () => { clearTimeout(t); s.waiters.delete(done); resolve() }
            const t = setTimeout(done, 25000)
            s.waiters.add(done)
            req.on('close', done)
          })
        }
        return json(res, 200, { cursor: s.seq, messages: s.log.filter((e) => e.seq > cursor).map((e) => e.b64) })
      }
    }
    if (['api', 'ws', 'sse', 'poll'].includes(parts[0])) return err(res, 404, 'not found')
    let file = path.join(webDir, path.normalize(url.pathname))
    if (!file.startsWith(path.resolve(webDir)) || !existsSync(file) || statSync(file).isDirectory()) file = path.join(webDir, 'index.html')
    res.writeHead(200, { 'Content-Type': mime[path.extname(file)] || 'application/octet-stream' })
    res.end(readFileSync(file))
  } catch (e) {
    err(res, 500, String(e))
  }
})

const wss = new WebSocketServer({ noServer: true })
server.on('upgrade', (req, socket, head) => {
  const parts = new URL(req.url, 'http://x').pathname.split('/').filter(Boolean).map(decodeURIComponent)
  if (parts[0] !== 'ws' || parts.length !== 2 || !transports.includes('websocket')) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n'); return
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const r = room(parts[1])
    const peer = join(r, (m) => ws.send(m))
    ws.on('message', (data) => receive(r, peer, new Uint8Array(data)))
    ws.on('close', () => leave(r, peer))
  })
})
server.listen(Number(port), host, () => {
  console.log(`listening on http://${host}:${server.address().port}`)
})
process.on('SIGTERM', () => process.exit(0))
