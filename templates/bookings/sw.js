{% autoescape off %}// Keeps the passes a phone has opened, for the gate where there is no network:
// network first, the last good copy when the network fails.
"use strict";
const ASSETS = {{ assets_json }};
const ASSET_CACHE = "landport-assets-{{ version }}";
// Kept across versions of this worker: a new release must not lose the passes already saved.
// Deleted when the user signs out (portal/static/portal/site.js).
const PASS_CACHE = "landport-passes";
const PASS_PAGE = /^\/bookings\/\d+\/pass\/$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(ASSET_CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("landport-assets-") && name !== ASSET_CACHE)
          .map((name) => caches.delete(name))
      ))
      .then(() => self.clients.claim())
  );
});

// A good answer replaces the saved copy; a page that is no longer this user's (signed out:
// a redirect; not the firm's any more: 404) removes it.
async function remember(cacheName, key, response) {
  const cache = await caches.open(cacheName);
  if (response.ok && !response.redirected && response.type !== "opaqueredirect") {
    await cache.put(key, response);
  } else if (response.status === 404 || response.status === 403 || response.type === "opaqueredirect" || response.redirected) {
    await cache.delete(key, { ignoreVary: true });
  }
}

async function networkFirst(event, cacheName) {
  const request = event.request;
  try {
    const response = await fetch(request);
    event.waitUntil(remember(cacheName, request.url, response.clone()));
    return response;
  } catch (error) {
    const saved = await caches.match(request.url, { cacheName: cacheName, ignoreVary: true });
    if (saved) return saved;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.search) return;
  if (PASS_PAGE.test(url.pathname)) {
    event.respondWith(networkFirst(event, PASS_CACHE));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(networkFirst(event, ASSET_CACHE));
  }
});

// The page asks to be kept as soon as the worker runs: its first load came before the worker.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  const reply = event.ports[0];
  if (data.type !== "keep" || !PASS_PAGE.test(data.url || "") || !reply) return;
  event.waitUntil(
    fetch(data.url, { credentials: "same-origin" })
      .then((response) => remember(PASS_CACHE, new URL(data.url, self.location.origin).href, response))
      .catch(() => null)
      .then(() => caches.match(new URL(data.url, self.location.origin).href, { cacheName: PASS_CACHE, ignoreVary: true }))
      .then((saved) => reply.postMessage({ saved: Boolean(saved) }))
  );
});
{% endautoescape %}
