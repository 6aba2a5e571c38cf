// The service worker: the app shell from its cache (the app opens with no network), Background
// Sync of the outbox, and Web Push notifications.  API responses are never cached here: what
// the app keeps for offline reading lives in IndexedDB, written only by the app's own code.
import { sync } from "./outbox.js";

/* global __SHELL__, __VERSION__ */
const SHELL = __SHELL__;
const CACHE = `grc-shell-${__VERSION__}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("grc-shell-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;
  const key = event.request.mode === "navigate" ? "/" : url.pathname;
  event.respondWith(
    (async () => {
      // caches.match never creates a cache: after a sign-out wiped them, none comes back
      // until the app asks for the shell again (a new enrolment).
      const hit = await caches.match(key, { cacheName: CACHE });
      if (hit) return hit;
      const response = await fetch(event.request);
      if (response.ok && SHELL.includes(key) && (await caches.has(CACHE))) {
        const cache = await caches.open(CACHE);
        await cache.put(key, response.clone());
      }
      return response;
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "cache-shell") {
    event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "grc-outbox") return;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window" });
      if (windows.length) windows.forEach((w) => w.postMessage({ type: "sync" }));
      else await sync();
    })(),
  );
});

self.addEventListener("push", (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = { title: "GRC", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(payload.title || "GRC", {
      body: payload.body || "",
      tag: payload.tag,
      icon: "/icons/icon-192.png",
      data: { url: payload.url || "/#/inbox" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin).href;
  event.waitUntil(
    (async () => {
      for (const client of await self.clients.matchAll({ type: "window" })) {
        if ("focus" in client) {
          await client.navigate(target).catch(() => {});
          return client.focus();
        }
      }
      return self.clients.openWindow(target);
    })(),
  );
});
