// The gate scanner's service worker: the page and its files come from the network when it
// answers and from this cache when it does not, so that the scanner opens offline.
const CACHE = "gate-{{ version }}";
const PAGE = {{ page_json|safe }};
const FILES = {{ files_json|safe }};

self.addEventListener("install", (event) => {
  // One missing file (the vendor copies before `make static-vendor`) must not stop the rest.
  event.waitUntil(
    caches.open(CACHE).then((cache) => Promise.all([PAGE, ...FILES].map((url) => cache.add(url).catch(() => null))))
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("gate-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const key = url.pathname === PAGE ? PAGE : FILES.includes(url.pathname) ? url.pathname : null;
  if (!key) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(() => caches.match(key).then((hit) => hit || Response.error()))
  );
});
