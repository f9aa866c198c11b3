// deploy/nginx.conf: its routing read from the file, and, when `nginx` and `openssl` are
// installed, `nginx -t` and nginx running the config in front of two stand-in instances to
// show where it sends each kind of request.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { have, nginxConf, upstreamBlock, upstreamServers } from './lib.mjs'

// ---------------------------------------------------------------------------------------
// deploy/nginx.conf

/** The body of `location PATH { ... }` (no nested blocks in ours). */
function locationBlock (p) {
  const m = nginxConf.match(new RegExp(`location\\s+${p.replace(/\//g, '\\/')}\\s*\\{([^}]*)\\}`))
  return m ? m[1] : null
}

function seconds (block, directive) {
  const m = block.match(new RegExp(`${directive}\\s+(\\d+)(s|m)?\\s*;`))
  if (!m) return 60 // nginx's default
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1)
}

test('nginx example: round robin for WebSocket and the API, sticky by document for SSE and polling', () => {
  const rr = upstreamBlock('tandem')
  assert.ok(rr, 'no upstream tandem')
  assert.doesNotMatch(rr, /\b(hash|ip_hash|least_conn|random)\b/, 'upstream tandem must be round robin')
  const sticky = upstreamBlock('tandem_sticky')
  assert.ok(sticky, 'no upstream tandem_sticky')
  const hashed = sticky.match(/\bhash\s+\$(\w+)\s+consistent\s*;/)
  assert.ok(hashed, 'upstream tandem_sticky must hash (consistently) on a variable')
  assert.ok(upstreamServers('tandem').length >= 2, 'the example lists several instances')
  assert.deepEqual(upstreamServers('tandem_sticky'), upstreamServers('tandem'), 'both upstreams list the same instances')
  // the hashed variable is the document: the first path segment after /sse/ or /poll/
  const map = nginxConf.match(new RegExp(`map\\s+\\$uri\\s+\\$${hashed[1]}\\s*\\{([^}]*)\\}`))
  assert.ok(map, `no map from $uri to $${hashed[1]}`)
  assert.match(map[1], /\(\?:sse\|poll\)\/\(\?<(\w+)>\[\^\/\]\+\)/)
  const pass = (loc) => locationBlock(loc)?.match(/proxy_pass\s+http:\/\/(\w+)/)?.[1]
  assert.equal(pass('/ws/'), 'tandem')
  assert.equal(pass('= /hocuspocus'), 'tandem')
  assert.equal(pass('/'), 'tandem')
  assert.equal(pass('/sse/'), 'tandem_sticky')
  assert.equal(pass('/poll/'), 'tandem_sticky')
  const hp = locationBlock('= /hocuspocus')
  assert.match(hp, /proxy_set_header\s+Upgrade\s+\$http_upgrade/)
})

test('nginx example: WebSocket upgrade on /ws/, no buffering and long timeouts for /sse/ and /poll/', () => {
  const ws = locationBlock('/ws/')
  assert.ok(ws, 'no location /ws/')
  assert.match(ws, /proxy_set_header\s+Upgrade\s+\$http_upgrade/)
  assert.match(ws, /proxy_set_header\s+Connection\s+\$\w+/)
  assert.match(nginxConf, /proxy_http_version\s+1\.1/)

  const sse = locationBlock('/sse/')
  assert.ok(sse, 'no location /sse/')
  assert.match(sse, /proxy_buffering\s+off/)
  assert.match(sse, /X-Accel-Buffering/)
  assert.ok(seconds(sse, 'proxy_read_timeout') > 15, 'SSE read timeout must outlast the 15 s heartbeat')

  const poll = locationBlock('/poll/')
  assert.ok(poll, 'no location /poll/')
  assert.match(poll, /proxy_buffering\s+off/)
  assert.ok(seconds(poll, 'proxy_read_timeout') > 25, 'poll read timeout must outlast the 25 s hold')
})

const haveNginx = have('nginx', ['-v'])
const haveOpenssl = have('openssl', ['version'])
const nginxSkip = haveNginx && haveOpenssl ? false : 'nginx or openssl is not installed'

/**
 * deploy/nginx.conf made runnable in `dir`: a throwaway certificate for the Let's Encrypt
 * paths, the instances of the upstreams replaced by `instances` (host:port, in order of first
 * appearance), and, when `listen` is given, its two servers on those loopback ports. Returns
 * the path of a main config that includes it.
 */
function nginxSite (dir, { instances, listen }) {
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=tandem.test', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30000 })
  assert.equal(gen.status, 0, gen.stderr)
  const named = [...new Set(upstreamServers('tandem'))]
  assert.ok(named.length <= instances.length, `needs ${named.length} stand-in instances`)
  let site = nginxConf
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${cert};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${key};`)
    .replace(/^(\s*server\s+)([^\s;]+)/gm, (all, lead, addr) =>
      named.includes(addr) ? lead + instances[named.indexOf(addr)] : all)
  if (listen) {
    site = site
      .replace(/^\s*listen\s+\[::\].*$/gm, '')
      .replace(/^(\s*)listen\s+443\b[^;]*;/m, `$1listen 127.0.0.1:${listen.tls} ssl;`)
      .replace(/^(\s*)listen\s+80\b[^;]*;/m, `$1listen 127.0.0.1:${listen.plain};`)
  }
  writeFileSync(path.join(dir, 'tandem.conf'), site)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n')
  const main = path.join(dir, 'nginx.conf')
  writeFileSync(main, `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n${temp}\n  include ${dir}/tandem.conf;\n}\n`)
  return main
}

test('nginx -t accepts the example config', { skip: nginxSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-nginx-'))
  try {
    const main = nginxSite(dir, { instances: ['127.0.0.1:8080', '127.0.0.1:8081'] })
    const r = spawnSync('nginx', ['-t', '-e', 'stderr', '-p', dir, '-c', main], {
      encoding: 'utf8', timeout: 30000
    })
    assert.equal(r.status, 0, `nginx -t failed:\n${r.stdout}\n${r.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/**
 * A listening loopback socket on a port the OS picks, for nginx to inherit (its `NGINX`
 * variable names inherited descriptors): the port is never unbound between choosing it and
 * nginx serving on it, so no other process can take it meanwhile.
 */
function heldSocket () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port, fd: srv._handle.fd }))
  })
}

/**
 * A stand-in Tandem instance that answers every request with its own name, and keeps the
 * client-address headers each request came with (`seen`).
 */
function standIn (name) {
  return new Promise((resolve) => {
    const seen = []
    const srv = http.createServer((req, res) => {
      seen.push({ path: req.url, realIp: req.headers['x-real-ip'], forwarded: req.headers['x-forwarded-for'] })
      req.resume()
      req.on('end', () => res.end(name))
    })
    srv.listen(0, '127.0.0.1', () => resolve({ name, srv, seen, addr: `127.0.0.1:${srv.address().port}` }))
  })
}

test('nginx runs the example: WebSocket and the API round robin, SSE and polling sticky by document', {
  skip: nginxSkip, timeout: 60000
}, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-nginx-run-'))
  const instances = await Promise.all(['one', 'two'].map(standIn))
  let proc = null
  try {
    const held = [await heldSocket(), await heldSocket()]
    const listen = { tls: held[0].port, plain: held[1].port }
    const main = nginxSite(dir, { instances: instances.map((i) => i.addr), listen })
    // The two sockets become nginx's descriptors 3 and 4; this process then lets go of its
    // own copies, so only nginx accepts on them.
    proc = spawn('nginx', ['-e', 'stderr', '-p', dir, '-c', main, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe', held[0].fd, held[1].fd],
      env: { ...process.env, NGINX: '3;4;' }
    })
    for (const h of held) h.srv.close()
    let log = ''
    proc.stderr.on('data', (d) => { log += d })
    const exited = new Promise((resolve) => proc.once('exit', resolve))

    /** Which instance nginx sent the request to. */
    const via = (method, p) => new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: listen.tls, path: p, method, rejectUnauthorized: false,
        // a client that claims an address of its own
        headers: { host: 'tandem.example.com', 'x-forwarded-for': '203.0.113.66' },
        timeout: 10000
      }, (res) => {
        let body = ''
        res.on('data', (d) => { body += d })
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${method} ${p}: ${res.statusCode} ${body}`))))
      })
      req.on('error', reject)
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)))
      req.end(method === 'POST' ? 'x' : undefined)
    })

    // nginx is up once it answers (bounded: it may also fail to start)
    const deadline = Date.now() + 20000
    for (;;) {
      try { await via('GET', '/healthz'); break } catch (err) {
        const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(undefined), 50))])
        if (code !== undefined) assert.fail(`nginx exited (${code}):\n${log}`)
        if (Date.now() > deadline) assert.fail(`nginx did not answer: ${err.message}\n${log}`)
      }
    }

    for (const p of ['/ws/notes', '/hocuspocus', '/api/documents/notes/text']) {
      const seen = []
      for (let i = 0; i < 6; i++) seen.push(await via('GET', p))
      assert.deepEqual([...new Set(seen)].sort(), ['one', 'two'], `${p} should alternate, went to ${seen}`)
    }

    // Every request of an SSE or polling session, and of one document, reaches one instance.
    const home = new Map()
    for (let d = 0; d < 12; d++) {
      const doc = `doc-${d}`
      const seen = new Set()
      for (let round = 0; round < 2; round++) {
        for (const [method, p] of [['GET', `/sse/${doc}`], ['POST', `/sse/${doc}/s${round}`],
          ['DELETE', `/sse/${doc}/s${round}`], ['POST', `/poll/${doc}`], ['GET', `/poll/${doc}/s${round}?cursor=3`],
          ['POST', `/poll/${doc}/s${round}`]]) {
          seen.add(await via(method, p))
        }
      }
      assert.equal(seen.size, 1, `${doc} was spread over ${[...seen]}`)
      home.set(doc, [...seen][0])
    }
    assert.equal(new Set(home.values()).size, 2, `the documents should spread over both instances: ${[...home]}`)

    // Every location names the client as nginx saw it, right of anything the client claimed
    // (Tandem takes the right-most address that is not a trusted proxy).
    const requests = instances.flatMap((i) => i.seen)
    for (const p of ['/ws/', '/hocuspocus', '/api/', '/sse/', '/poll/']) {
      assert.ok(requests.some((r) => r.path.startsWith(p)), `no request to ${p} seen`)
    }
    for (const r of requests) {
      assert.equal(r.realIp, '127.0.0.1', `X-Real-IP of ${r.path}`)
      const list = (r.forwarded ?? '').split(',').map((a) => a.trim())
      assert.equal(list.at(-1), '127.0.0.1', `X-Forwarded-For of ${r.path}: ${r.forwarded}`)
    }
  } finally {
    if (proc && proc.exitCode === null) {
      const gone = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await gone
    }
    for (const i of instances) i.srv.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
