// Tandem's service worker: keeps the app shell (index.html and the built files) so a document
// opened before opens while the server is unreachable; its text then comes from IndexedDB and
// its edits are sent on reconnect. It never touches the API or the sync transports, and pages
// are fetched from the network first, so a new server version shows up at once.
//
// sw-precache.js is written by the build (vite.config.ts): the list of built files and a
// version. A new build changes it, which makes the browser install this worker again.
/* global self, caches, fetch */
importScripts('/sw-precache.js')

const SHELL = self.TANDEM_SHELL
const CACHE = `tandem-shell-${SHELL.version}`
/** Never cached, never answered from a cache: live data and the sync transports. */
const LIVE = /^\/(api|ws|sse|poll|hocuspocus|metrics|healthz)(\/|$)/
/** A page that does not answer within this long is treated as unreachable (a frozen server). */
const PAGE_TIMEOUT_MS = 4000

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL.files)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('tandem-shell-') && key !== CACHE) await caches.delete(key)
    }
    await self.clients.claim()
  })())
})

function withTimeout (promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms)
    promise.then((v) => { clearTimeout(timer); resolve(v) }, (e) => { clearTimeout(timer); reject(e) })
  })
}

/** Pages: the network's answer (any status); the cached shell only when there is none. */
async function page (request) {
  try {
    return await withTimeout(fetch(request), PAGE_TIMEOUT_MS)
  } catch (err) {
    const shell = await caches.match('/', { cacheName: CACHE })
    if (shell) return shell
    throw err
  }
}

/** Built files have content-hashed names: a cached one is right forever. */
async function asset (request) {
  const cached = await caches.match(request, { cacheName: CACHE })
  if (cached) return cached
  const res = await fetch(request)
  if (res.ok) {
    const copy = res.clone()
    void caches.open(CACHE).then((c) => c.put(request, copy))
  }
  return res
}

/** Anything else of the app's (the icon): the network first, the cache when offline. */
async function other (request) {
  try {
    return await fetch(request)
  } catch (err) {
    const cached = await caches.match(request, { cacheName: CACHE })
    if (cached) return cached
    throw err
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin || LIVE.test(url.pathname)) return
  if (request.mode === 'navigate') event.respondWith(page(request))
  else if (url.pathname.startsWith('/assets/')) event.respondWith(asset(request))
  else event.respondWith(other(request))
})
