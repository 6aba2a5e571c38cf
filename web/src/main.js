// The application: session, navigation, the unsent count, and the sync triggers (start,
// reconnect, Background Sync through the service worker).
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import * as store from "./db.js";
import * as api from "./api.js";
import * as data from "./data.js";
import * as outbox from "./outbox.js";
import { lang, t } from "./i18n.js";
import {
  Companies, Company, EditExchange, Enrol, Exchange, Inbox, NewExchange, Outbox, OutboxItem,
  Settings, Today, disablePush, go, parseRoute,
} from "./app.js";

const html = htm.bind(h);

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => {
      setHash(location.hash);
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

/** The session: asked of the server when online, remembered for offline starts. */
async function loadSession() {
  if (data.online() && localStorage.getItem("grc.logout")) {
    // Signed out while offline: the server session is ended before anything else.
    try {
      await api.request("POST", "session/logout");
    } catch (err) {
      if (err instanceof api.NetworkError) return null;
    }
    localStorage.removeItem("grc.logout");
    return null;
  }
  if (data.online()) {
    try {
      const session = await api.get("session");
      await store.put("session", session);
      return session;
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 401) return null;
      if (!(err instanceof api.NetworkError)) throw err;
    }
  }
  return (await store.get("session")) || null;
}

function App() {
  const hash = useHash();
  const route = parseRoute(hash);
  const [session, setSession] = useState(undefined);
  const [message, setMessage] = useState("");
  const [items, setItems] = useState([]);
  const [cat, setCat] = useState(null);
  const [unread, setUnread] = useState(0);
  const [online, setOnline] = useState(data.online());
  const [toast, setToast] = useState("");

  const refreshItems = () => outbox.items().then(setItems).catch(() => setItems([]));
  const refreshUnread = () => data.online() && session && api.get("inbox/unread").then((u) => setUnread(u.unread)).catch(() => {});

  const wiped = (text) => {
    setSession(null);
    setItems([]);
    setCat(null);
    setMessage(text);
    go("/enrol");
  };

  useEffect(() => {
    api.setHandlers({
      revoked: () => wiped(t.revoked),
      unauthenticated: () => setSession((s) => (s ? null : s)),
    });
    loadSession().then(setSession, () => setSession(null));
    refreshItems();
    const off = outbox.onChange(refreshItems);
    const up = () => {
      setOnline(true);
      outbox.resetBackoff();
      outbox.sync();
    };
    const down = () => setOnline(false);
    const onToast = (e) => {
      setToast(e.detail);
      setTimeout(() => setToast(""), 4000);
    };
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    window.addEventListener("grc-toast", onToast);
    navigator.serviceWorker?.addEventListener("message", (e) => {
      if (e.data && e.data.type === "sync") outbox.sync();
      if (e.data && e.data.type === "outbox") refreshItems();
    });
    return () => {
      off();
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
      window.removeEventListener("grc-toast", onToast);
    };
  }, []);

  useEffect(() => {
    if (!session) return;
    (async () => {
      const cached = await data.catalogue();
      setCat(cached);
      if (data.online()) {
        try {
          await data.refreshCatalogue();
          setCat(await data.catalogue());
          // When the catalogue on the device was last refreshed (also a hook for tests).
          document.documentElement.dataset.catalogue = String(Date.now());
          outbox.sync();
          refreshUnread();
          data.prefetchFollowed().catch(() => {});
        } catch {
          /* offline or refused: what is kept is shown */
        }
      }
    })();
    navigator.storage?.persist?.().catch(() => {});
    const timer = setInterval(refreshUnread, 60000);
    return () => clearInterval(timer);
  }, [session && session.user && session.user.id]);

  const enrolled = async (s) => {
    const previous = await store.get("session");
    if (previous && previous.user && previous.user.id !== s.user.id) await store.wipe();
    await api.csrfToken();
    await store.put("session", s);
    // A sign-out or revocation emptied the caches: the app shell is kept again for offline.
    navigator.serviceWorker?.ready.then((reg) => reg.active?.postMessage({ type: "cache-shell" }));
    setMessage("");
    setSession(s);
    go("/today");
  };

  const signOut = async () => {
    await disablePush().catch(() => {});
    await api.request("POST", "session/logout").catch((err) => {
      // Offline: the session cookie (unreadable by scripts) is ended at the next start.
      if (err instanceof api.NetworkError) localStorage.setItem("grc.logout", "1");
    });
    await store.wipe();
    wiped(t.signedOut);
  };

  if (session === undefined) return html`<p class="boot" role="status">${t.loading}</p>`;
  if (!session || route[0] === "enrol") {
    const code = route[0] === "enrol" ? route[1] : undefined;
    if (session && !code) {
      go("/today");
      return null;
    }
    return html`<${Enrol} code=${code} onDone=${enrolled} message=${message} />`;
  }
  if (!cat) return html`<p class="boot" role="status">${t.loading}</p>`;

  const me = session.user;
  const unsent = items.length;
  const flagged = items.some((i) => i.state !== "pending");
  let screen;
  const [a, b, c] = route;
  if (a === "companies" && b && c === "new") screen = html`<${NewExchange} companyId=${Number(b)} cat=${cat} me=${me} />`;
  else if (a === "companies" && b) screen = html`<${Company} key=${b} id=${Number(b)} cat=${cat} unsentItems=${items} />`;
  else if (a === "companies") screen = html`<${Companies} />`;
  else if (a === "exchanges" && b && c === "edit") screen = html`<${EditExchange} id=${b} cat=${cat} me=${me} />`;
  else if (a === "exchanges" && b) screen = html`<${Exchange} key=${b} id=${b} cat=${cat} me=${me} unsentItems=${items} />`;
  else if (a === "outbox" && b) screen = html`<${OutboxItem} key=${b} seq=${b} cat=${cat} me=${me} />`;
  else if (a === "outbox") screen = html`<${Outbox} unsentItems=${items} />`;
  else if (a === "inbox") screen = html`<${Inbox} onRead=${() => setUnread(0)} />`;
  else if (a === "me") screen = html`<${Settings} session=${session} unsent=${unsent} onSignOut=${signOut} />`;
  else screen = html`<${Today} cat=${cat} />`;

  const tab = (path, text, extra) => html`<a href=${`#/${path}`} class=${a === path || (!a && path === "today") ? "tab current" : "tab"}
    aria-current=${a === path || (!a && path === "today") ? "page" : undefined}>${text}${extra || ""}</a>`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>↓</a>
    <header class="top">
      <span class="brand">GRC</span>
      <span class=${online ? "net" : "net off"} role="status">${online ? "" : t.offline}</span>
      <a href="#/outbox" class=${"unsent" + (unsent ? " some" : "") + (flagged ? " flagged" : "")} data-unsent=${unsent}
        aria-label=${t.unsent(unsent)}>${t.unsent(unsent)}</a>
    </header>
    ${screen}
    ${toast && html`<div class="toast" role="alert">${toast}</div>`}
    <nav class="tabs" aria-label="Navigation">
      ${tab("today", t.today)}${tab("companies", t.companies)}
      ${tab("inbox", t.inbox, unread ? html` <span class="badge" aria-label=${`${unread}`}>${unread}</span>` : "")}
      ${tab("me", t.me)}
    </nav>`;
}

// A revoked device's data is cleared by the browser (Clear-Site-Data) while reads may be in
// flight: their failure is expected, the wipe is the point.
window.addEventListener("unhandledrejection", (e) => {
  if (/delete origin|connection is closing/i.test(String(e.reason && e.reason.message))) e.preventDefault();
});

document.documentElement.lang = lang;
render(html`<${App} />`, document.getElementById("app"));

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}
