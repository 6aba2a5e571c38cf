// Reading: the network first, IndexedDB when there is none.  Everything stored here is what
// the API returned to the signed-in user, so the device never holds what they may not see.
import * as store from "./db.js";
import { NetworkError, get, request } from "./api.js";

export const online = () => typeof navigator === "undefined" || navigator.onLine !== false;

/** {value, at, cached} from the network (stored) or, offline, from the device. */
export async function read(key, path, { transform } = {}) {
  if (online()) {
    try {
      const value = transform ? transform(await get(path)) : await get(path);
      await store.put(key, value);
      return { value, at: Date.now(), cached: false };
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
    }
  }
  const entry = await store.getEntry(key);
  if (!entry) throw new NetworkError("not cached");
  return { value: entry.value, at: entry.at, cached: true };
}

export const PICKLISTS = ["action", "status", "medium"];

/** Picklists, categories, custom fields and users: refreshed at start, kept for offline. */
export async function refreshCatalogue() {
  await Promise.all([
    ...PICKLISTS.map((k) => read(`picklist:${k}`, `picklists/${k}`)),
    read("categories", "categories"),
    read("fields", "fields"),
    read("users", "users?limit=1000").catch(() => read("users", "users")),
    read("subscriptions", "subscriptions"),
  ]);
}

export async function catalogue() {
  const [action, status, medium, categories, fields, users] = await Promise.all([
    ...PICKLISTS.map((k) => store.get(`picklist:${k}`)),
    store.get("categories"),
    store.get("fields"),
    store.get("users"),
  ]);
  return {
    action: action || [], status: status || [], medium: medium || [],
    categories: categories || [], fields: fields || [], users: users || [],
  };
}

/** A company with its contacts, opportunities and first history page, kept on the device. */
export async function company(id, { remember = true } = {}) {
  const [c, contacts, opportunities] = await Promise.all([
    read(`company:${id}`, `companies/${id}`),
    read(`contacts:${id}`, `companies/${id}/contacts`),
    read(`opportunities:${id}`, `opportunities?company_id=${id}`),
  ]);
  if (remember) await rememberRecent(c.value);
  return { company: c.value, contacts: contacts.value, opportunities: opportunities.value, at: c.at, cached: c.cached };
}

export function historyPath(id, filters = {}, cursor = null) {
  const q = new URLSearchParams({ limit: "20" });
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  if (cursor) q.set("cursor", cursor);
  return `companies/${id}/history?${q}`;
}

/** The first page is kept (per filter set); further pages are read from the network only. */
export async function history(id, filters = {}, cursor = null) {
  const path = historyPath(id, filters, cursor);
  if (cursor) return { value: await get(path), cached: false };
  const key = `history:${id}:${new URLSearchParams(filters)}`;
  return read(key, path);
}

export async function rememberRecent(c) {
  const recent = ((await store.get("recent")) || []).filter((r) => r.id !== c.id);
  await store.put("recent", [{ id: c.id, name: c.name, status: c.status }, ...recent].slice(0, 20));
}

/** What a subscription follows: ``{kind, id}``. */
export const target = (s) => s.target || { kind: s.target_kind, id: s.target_id };

/** Followed companies are fetched ahead of need, so they can be read in the basement. */
export async function prefetchFollowed() {
  const subs = (await store.get("subscriptions")) || [];
  const ids = subs.filter((s) => target(s).kind === "company").map((s) => target(s).id).slice(0, 30);
  for (const id of ids) {
    try {
      await company(id, { remember: false });
      await history(id);
    } catch {
      /* a company no longer visible: nothing kept */
    }
  }
}

/** One exchange with its ETag; offline, the copy kept or the history entry. */
export async function exchange(id) {
  if (online()) {
    try {
      const { data, etag } = await request("GET", `exchanges/${id}`);
      await store.put(`exchange:${id}`, { exchange: data, etag });
      await store.put(`uuid:${data.uuid}`, data.id);
      return { exchange: data, etag, at: Date.now(), cached: false };
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
    }
  }
  const entry = await store.getEntry(`exchange:${id}`);
  if (entry) return { ...entry.value, at: entry.at, cached: true };
  for (const key of await store.keys("history:")) {
    const page = await store.getEntry(key);
    const found = page && page.value.items.find((e) => String(e.id) === String(id));
    if (found) return { exchange: found, etag: null, at: page.at, cached: true, partial: true };
  }
  throw new NetworkError("not cached");
}

export async function attachments(id) {
  return read(`attachments:${id}`, `exchanges/${id}/attachments`);
}

export async function searchCompanies(text) {
  const norm = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const needle = norm(text.trim());
  const local = async () => {
    const seen = new Map();
    for (const key of await store.keys("company:")) {
      const c = await store.get(key);
      if (c && norm(c.name).includes(needle)) seen.set(c.id, c);
    }
    return [...seen.values()];
  };
  if (!online()) return local();
  try {
    const found = await get(`companies?name=${encodeURIComponent(text.trim())}&limit=30`);
    if (found.length || !/[^\x00-\x7f]/.test(text)) return found;
    // The server's "contains" may not fold accents: try without them too.
    return get(`companies?name=${encodeURIComponent(needle)}&limit=30`);
  } catch (err) {
    if (err instanceof NetworkError) return local();
    throw err;
  }
}
