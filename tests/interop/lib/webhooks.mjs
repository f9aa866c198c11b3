// What the webhook tests share: the admin key and short timings the servers run with, a
// receiver that checks each request's signature with the published `standardwebhooks`
// package (not Tandem's code), the admin API, and what each test file releases at its end.

import assert from 'node:assert/strict'
import http from 'node:http'
import { Webhook } from 'standardwebhooks'

export const ADMIN = 'webhook-admin-key'
/** Servers, clients, receivers and other cleanups to release when the test file ends. */
export const cleanups = []
export const servers = []
export const clients = []
export const receivers = []

/** Each test file's `after`. */
export async function releaseAll () {
  for (const c of clients) c.destroy()
  for (const s of servers) await s.stop()
  for (const r of receivers) r.close()
  for (const fn of cleanups.reverse()) fn()
}

// Short timings so the test runs in seconds; the rules themselves are unit-tested.
export const FAST = {
  TANDEM_ADMIN_KEY: ADMIN,
  TANDEM_WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8',
  TANDEM_WEBHOOK_DEBOUNCE_MS: '200',
  TANDEM_WEBHOOK_MAX_WAIT_MS: '1000',
  TANDEM_WEBHOOK_POLL_MS: '100'
}

/**
 * A webhook receiver on 127.0.0.1. `answer(n, message)` picks the status of the n-th request
 * (from 0), or 'hold' to never answer it, after `delayMs`. Each request is kept with whether its signature
 * verified; the secret is set once the endpoint exists.
 */
export async function startReceiver (answer = () => 200, { delayMs = 0 } = {}) {
  const r = { secret: null, requests: [], held: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const headers = {
        'webhook-id': req.headers['webhook-id'],
        'webhook-timestamp': req.headers['webhook-timestamp'],
        'webhook-signature': req.headers['webhook-signature']
      }
      let payload = null
      let error = null
      try {
        payload = new Webhook(r.secret).verify(body, headers)
      } catch (err) {
        error = String(err)
      }
      const n = r.requests.length
      r.requests.push({ id: headers['webhook-id'], payload, error, raw: { body, headers } })
      const status = answer(n, payload)
      if (status === 'hold') {
        r.held.push(res)
        return
      }
      setTimeout(() => res.writeHead(status).end(), delayMs)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${server.address().port}/hook`
  r.close = () => {
    for (const res of r.held) res.destroy()
    server.closeAllConnections()
    server.close()
  }
  r.verified = (type) => r.requests.filter((q) => q.payload && (!type || q.payload.type === type))
  receivers.push(r)
  return r
}

export async function api (server, method, path, body) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

export async function addEndpoint (server, receiver, extra) {
  const res = await api(server, 'POST', '/api/webhooks', { url: receiver.url, ...extra })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/=]+$/)
  receiver.secret = res.body.secret
  return res.body
}
