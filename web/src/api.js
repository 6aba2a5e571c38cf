// Calls to /api/v1 with the device's cookie session.  Unsafe methods carry the CSRF token
// (the grc_csrf cookie, echoed in X-CSRF-Token).  A revoked device wipes everything it holds.
import * as store from "./db.js";

export const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get slug() {
    // ".../problems/device-revoked" or "urn:grc:problem:device-revoked": the last segment.
    return String(this.problem.type || "").split(/[/:]/).pop();
  }
}

/** The network failed (offline, connection dropped): the request may or may not have run. */
export class NetworkError extends Error {}

let onRevoked = () => {};
let onUnauthenticated = () => {};
export function setHandlers(handlers) {
  onRevoked = handlers.revoked || onRevoked;
  onUnauthenticated = handlers.unauthenticated || onUnauthenticated;
}

function cookie(name) {
  if (typeof document === "undefined") return null;
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

/** The CSRF token: the cookie in a page, the copy kept in IndexedDB in the service worker. */
export async function csrfToken() {
  const fromCookie = cookie("grc_csrf");
  if (fromCookie) {
    if ((await store.get("csrf")) !== fromCookie) await store.put("csrf", fromCookie);
    return fromCookie;
  }
  return (await store.get("csrf")) || "";
}

export async function request(method, path, { json, body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  if (!["GET", "HEAD"].includes(method)) init.headers["X-CSRF-Token"] = await csrfToken();
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${BASE}/${path}`, init);
  } catch (err) {
    throw new NetworkError(String(err));
  }
  if (raw) return response;
  if (response.status === 204) return { data: null, etag: null, status: 204 };
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) {
      if (error.slug === "device-revoked") {
        onRevoked(error);
        await store.wipe();
      } else {
        onUnauthenticated(error);
      }
    }
    throw error;
  }
  return { data, etag: response.headers.get("etag"), status: response.status };
}

export const get = async (path) => (await request("GET", path)).data;

/** Version number of an ETag such as "3". */
export const versionOf = (etag) => (etag ? Number(String(etag).replace(/\D/g, "")) : null);
export const etagOf = (version) => `"${version}"`;
