// The outbox: what was recorded on the device, sent to the server in order, exactly once.
// Each exchange carries the UUID chosen on the device (the server's create is idempotent on
// it), each upload an Idempotency-Key, so a request whose response was lost is simply sent
// again.  A refusal (4xx) flags the item for correction and a conflict (412) keeps both
// versions for the user to choose: nothing is dropped without the user saying so.
import * as store from "./db.js";
import { ApiError, NetworkError, etagOf, request } from "./api.js";

const listeners = new Set();
export const onChange = (fn) => (listeners.add(fn), () => listeners.delete(fn));
const changed = () => listeners.forEach((fn) => fn());

let failures = 0;
let timer = null;
let running = null;
let again = false;

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export async function enqueue(item) {
  const seq = await store.outboxAdd({ ...item, createdAt: Date.now() });
  changed();
  requestBackgroundSync();
  sync();
  return seq;
}

export async function items() {
  return store.outboxAll();
}

export async function count() {
  return (await store.outboxAll()).length;
}

function requestBackgroundSync() {
  if (typeof navigator === "undefined" || !navigator.serviceWorker) return;
  navigator.serviceWorker.ready
    .then((reg) => reg.sync && reg.sync.register("grc-outbox"))
    .catch(() => {});
}

/** Send what is waiting; resolves once the queue is empty or blocked.  Never runs twice at once. */
export function sync() {
  if (running) {
    // Items added while a pass runs are sent by one more pass right after it.
    again = true;
    return running;
  }
  const pass = () =>
    typeof navigator !== "undefined" && navigator.locks
      ? navigator.locks.request("grc-outbox", () => drain())
      : drain();
  const work = async () => {
    let ok;
    do {
      again = false;
      ok = await pass();
    } while (ok && again);
    return ok;
  };
  running = work().finally(() => {
    running = null;
    changed();
  });
  return running;
}

export function resetBackoff() {
  failures = 0;
  clearTimeout(timer);
  timer = null;
}

function backoff() {
  failures += 1;
  const delay = Math.min(60000, 1000 * 2 ** (failures - 1));
  clearTimeout(timer);
  if (typeof setTimeout !== "undefined") timer = setTimeout(() => sync(), delay);
  return delay;
}

async function drain() {
  const blocked = new Set();
  for (const item of (await store.outboxAll()).sort((a, b) => a.seq - b.seq)) {
    const owner = item.kind === "create" ? item.uuid : item.exchangeUuid;
    if (item.state !== "pending" || (owner && blocked.has(owner))) {
      if (owner) blocked.add(owner);
      continue;
    }
    try {
      await send(item);
      await store.outboxDelete(item.seq);
      failures = 0;
      changed();
    } catch (err) {
      if (err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || err.status === 429))) {
        item.attempts = (item.attempts || 0) + 1;
        await store.outboxPut(item);
        backoff();
        return false;
      }
      if (err instanceof ApiError && err.status === 401) return false;
      if (err instanceof ApiError && err.status === 412 && item.kind === "update") {
        const theirs = err.problem.current;
        if (theirs && sameValues(item.body, theirs)) {
          // The first try was committed and its response lost: nothing left to send.
          await remember(theirs, null);
          await store.outboxDelete(item.seq);
          continue;
        }
        Object.assign(item, { state: "conflict", theirs, error: { status: 412, detail: err.message } });
      } else {
        const problem = err instanceof ApiError ? err.problem : {};
        Object.assign(item, {
          state: "error",
          error: { status: err.status || 0, detail: err.message, errors: problem.errors || [] },
        });
      }
      await store.outboxPut(item);
      if (owner) blocked.add(owner);
      changed();
    }
  }
  return true;
}

/** Whether the server's representation already holds every change of ``body``. */
export function sameValues(body, exchange) {
  const current = representationAsBody(exchange);
  return Object.keys(body).every((k) => JSON.stringify(norm(k, body[k])) === JSON.stringify(norm(k, current[k])));
}

function norm(key, value) {
  if (value == null) return null;
  if (key === "start" || key === "end") return new Date(value).getTime();
  if (Array.isArray(value)) return [...value].sort();
  if (key === "custom") return Object.fromEntries(Object.entries(value).filter(([, v]) => v != null && v !== "").sort());
  return value;
}

/** An exchange as returned by the API, in the shape of a create/update body. */
export function representationAsBody(x) {
  return {
    subject: x.subject,
    details: x.details,
    start: x.start,
    end: x.end,
    action: x.action,
    status: x.status,
    medium: x.medium,
    category: x.category,
    private: x.private,
    company_id: x.company ? x.company.id : null,
    opportunity_ids: (x.opportunities || []).map((o) => o.id),
    contact_ids: (x.contacts || []).map((c) => c.id),
    assignees: x.assignees || [],
    custom: x.custom || {},
  };
}

async function remember(exchange, etag) {
  await store.put(`exchange:${exchange.id}`, { exchange, etag: etag || etagOf(exchange.version) });
  await store.put(`uuid:${exchange.uuid}`, exchange.id);
}

async function exchangeId(uuidValue) {
  const known = await store.get(`uuid:${uuidValue}`);
  if (known) return known;
  const { data } = await request("GET", `exchanges/${uuidValue}`);
  await remember(data, null);
  return data.id;
}

async function send(item) {
  if (item.kind === "create") {
    const { data, etag } = await request("POST", "exchanges", {
      json: item.body,
      headers: { "Idempotency-Key": item.uuid },
    });
    await remember(data, etag);
  } else if (item.kind === "update") {
    const { data, etag } = await request("PATCH", `exchanges/${item.ref}`, {
      json: item.body,
      headers: { "If-Match": item.etag },
    });
    await remember(data, etag);
  } else if (item.kind === "complete") {
    const { data, etag } = await request("POST", `exchanges/${item.ref}/complete`, {
      json: item.body || {},
    });
    await remember(data, etag);
  } else if (item.kind === "attach") {
    const id = item.exchangeId || (await exchangeId(item.exchangeUuid));
    const form = new FormData();
    form.append("file", item.blob, item.filename);
    const { data } = await request("POST", `exchanges/${id}/attachments`, {
      body: form,
      headers: { "Idempotency-Key": item.key },
    });
    const list = (await store.get(`attachments:${id}`)) || [];
    if (!list.some((a) => a.id === data.id)) await store.put(`attachments:${id}`, [...list, data]);
  } else {
    throw new ApiError(400, { detail: `unknown outbox item ${item.kind}` });
  }
}

/** The user's answer to a conflict: "mine" (send again over their version), "theirs"
 * (drop mine), or a body of the chosen fields. */
export async function resolve(seq, choice) {
  const item = await store.outboxGet(seq);
  if (!item) return;
  if (choice === "theirs") {
    await remember(item.theirs, null);
    await store.outboxDelete(seq);
  } else {
    const body = choice === "mine" ? item.body : choice;
    Object.assign(item, { body, etag: etagOf(item.theirs.version), state: "pending", error: null, theirs: null });
    if (Object.keys(body).length === 0) await store.outboxDelete(seq);
    else await store.outboxPut(item);
  }
  changed();
  return sync();
}

/** A flagged item corrected by the user: send it again. */
export async function retry(seq, body) {
  const item = await store.outboxGet(seq);
  if (!item) return;
  Object.assign(item, { body: body || item.body, state: "pending", error: null });
  await store.outboxPut(item);
  changed();
  resetBackoff();
  return sync();
}

export async function discard(seq) {
  const item = await store.outboxGet(seq);
  await store.outboxDelete(seq);
  if (item && item.kind === "create") {
    for (const other of await store.outboxAll()) {
      if (other.exchangeUuid === item.uuid) await store.outboxDelete(other.seq);
    }
  }
  changed();
}
