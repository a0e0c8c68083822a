/* The wallet's service worker: keeps the app shell so the wallet opens offline.
 * The build fills in VERSION and SHELL. The API (/v1/) is never cached: it always goes
 * to the network, and the page handles a failure. */
const VERSION = '__VERSION__'
const SHELL = __SHELL__
const CACHE = `safecode-wallet-${VERSION}`
const SLOW_MS = 2500

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith('safecode-wallet-') && n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()))
})

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return
  // Network first, so a new version shows when online; the cached shell when the network
  // fails, or answers slower than SLOW_MS (a server that hangs must not hide the code).
  const cached = () => caches.match(event.request)
  const network = fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone()
      caches.open(CACHE).then((cache) => cache.put(event.request, copy))
    }
    return response
  })
  const fallback = network.catch(() => cached().then((hit) => hit || Response.error()))
  const slow = new Promise((resolve) => setTimeout(resolve, SLOW_MS)).then(cached).then((hit) => hit || fallback)
  event.respondWith(Promise.race([fallback, slow]))
})
