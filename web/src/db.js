// The device's storage: one IndexedDB database with a key/value cache (what the API returned
// to this user, each entry stamped with when it was fetched) and the outbox (what the user
// recorded and the server has not yet acknowledged).  Used by the page and the service worker.
import { openDB, deleteDB } from "idb";

export const DB_NAME = "grc";
let dbPromise = null;

export function db() {
  if (!dbPromise) {
    dbPromise = openDB(DB_NAME, 1, {
      upgrade(d) {
        d.createObjectStore("cache");
        d.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      },
      blocking() {
        // Another tab wipes or upgrades the database: let it.
        dbPromise?.then((d) => d.close());
        dbPromise = null;
      },
      terminated() {
        dbPromise = null;
      },
    });
  }
  return dbPromise;
}

export async function get(key) {
  const entry = await (await db()).get("cache", key);
  return entry ? entry.value : undefined;
}

export async function getEntry(key) {
  return (await db()).get("cache", key);
}

export async function put(key, value) {
  await (await db()).put("cache", { value, at: Date.now() }, key);
  return value;
}

export async function del(key) {
  await (await db()).delete("cache", key);
}

export async function keys(prefix) {
  const all = await (await db()).getAllKeys("cache");
  return all.filter((k) => String(k).startsWith(prefix));
}

// -- outbox -----------------------------------------------------------------------------------

export async function outboxAll() {
  return (await db()).getAll("outbox");
}

export async function outboxAdd(item) {
  const seq = await (await db()).add("outbox", { state: "pending", attempts: 0, ...item });
  return seq;
}

export async function outboxPut(item) {
  await (await db()).put("outbox", item);
}

export async function outboxGet(seq) {
  return (await db()).get("outbox", seq);
}

export async function outboxDelete(seq) {
  await (await db()).delete("outbox", seq);
}

/** Everything on the device: IndexedDB, the service worker's caches, local settings. */
export async function wipe() {
  if (dbPromise) {
    (await dbPromise).close();
    dbPromise = null;
  }
  await deleteDB(DB_NAME);
  if (typeof caches !== "undefined") {
    for (const name of await caches.keys()) await caches.delete(name);
  }
}
