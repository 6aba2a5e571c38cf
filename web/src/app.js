// The screens.  Routes are hash routes (#/today, #/companies/12, #/exchanges/34, #/enrol/CODE…)
// so any path of the server serves the same index.html and nothing leaves the page.
import { h } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import * as store from "./db.js";
import * as api from "./api.js";
import * as data from "./data.js";
import * as outbox from "./outbox.js";
import { ago, label, lang, setLanguage, t, when } from "./i18n.js";

const html = htm.bind(h);

// -- small helpers ------------------------------------------------------------------------------

export function parseRoute(hash) {
  const parts = (hash || "").replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean);
  return parts.map(decodeURIComponent);
}

export const go = (path) => {
  location.hash = path;
};

const pad = (n) => String(n).padStart(2, "0");
/** ISO instant → the value of a datetime-local input, in the device's time zone. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
/** A datetime-local value (device's zone) → an ISO instant with its offset. */
export function fromLocalInput(value) {
  if (!value) return null;
  return new Date(value).toISOString();
}

function useAsync(fn, deps) {
  const [state, setState] = useState({ loading: true });
  const reload = useCallback(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn()
      .then((value) => live && setState({ loading: false, value }))
      .catch((error) => live && setState({ loading: false, error }));
    return () => (live = false);
  }, deps);
  useEffect(reload, [reload]);
  return [state, reload];
}

function Status({ state, children }) {
  if (state.loading && !state.value) return html`<p class="muted" role="status">${t.loading}</p>`;
  if (state.error) {
    const msg = state.error instanceof api.NetworkError ? t.notCached : state.error.message;
    return html`<p class="notice" role="alert">${msg}</p>`;
  }
  return children(state.value);
}

const Fresh = ({ at, cached }) =>
  html`<p class=${"fresh" + (cached ? " stale" : "")}>${cached ? t.offline + " · " : ""}${ago(at)}</p>`;

function Picklabel({ list, code }) {
  const v = list.find((x) => x.code === code);
  return v ? label(v) : code || t.none;
}

function ExchangeItem({ e, cat, pending }) {
  const closed = e.closed ?? cat.status.find((s) => s.code === e.status)?.closed;
  const href = pending ? `#/outbox` : `#/exchanges/${e.id}`;
  return html`<li class="item">
    <a href=${href} class="row">
      <span class="title">${e.private ? html`<span class="tag">${t.private}</span> ` : ""}${e.subject}</span>
      <span class="meta">${when(e.start)} · <${Picklabel} list=${cat.action} code=${e.action} /> ·
        <span class=${closed ? "ok" : ""}><${Picklabel} list=${cat.status} code=${e.status} /></span>
        ${pending ? html` · <span class="tag warn">${t.pending}</span>` : ""}</span>
    </a>
  </li>`;
}

// -- sign-in -------------------------------------------------------------------------------------

export function Enrol({ code: initial, onDone, message }) {
  const [code, setCode] = useState(initial || "");
  const [name, setName] = useState(guessDevice());
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState(false);
  useEffect(() => {
    api.get("session/options").then((o) => setOidc(!!(o && o.oidc))).catch(() => {});
  }, []);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError("");
    try {
      const { data: session } = await api.request("POST", "session/enrol", {
        json: { code: code.trim(), device_name: name.trim() || guessDevice() },
      });
      await onDone(session);
    } catch (err) {
      setError(err instanceof api.NetworkError ? t.offlineNeeded : t.enrolInvalid);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="screen enrol" id="main" tabindex="-1">
    <h1>${t.enrolTitle}</h1>
    ${message && html`<p class="notice" role="alert">${message}</p>`}
    <p>${t.enrolHelp}</p>
    <form onSubmit=${submit}>
      <label for="code">${t.code}</label>
      <input id="code" name="code" autocomplete="one-time-code" autocapitalize="characters"
        value=${code} onInput=${(e) => setCode(e.target.value)} required placeholder="ABCD-EFGH" />
      <label for="device">${t.deviceName}</label>
      <input id="device" name="device" value=${name} onInput=${(e) => setName(e.target.value)} />
      ${error && html`<p class="notice" role="alert">${error}</p>`}
      <div class="actions"><button class="primary" disabled=${busy}>${t.activate}</button></div>
    </form>
    ${oidc && html`<p><a class="button" href="/api/v1/session/oidc/start">${t.oidc}</a></p>`}
  </main>`;
}

function guessDevice() {
  const ua = (typeof navigator !== "undefined" && navigator.userAgent) || "";
  const m = ua.match(/\(([^;)]+);[^)]*?([^;)]*Build|iPad|iPhone|Pixel [^;)]*)/);
  if (/iPad/.test(ua)) return "iPad";
  if (/iPhone/.test(ua)) return "iPhone";
  const pixel = ua.match(/Pixel [0-9a-zA-Z ]+/);
  if (pixel) return pixel[0].trim();
  return m ? m[1] : "Navigateur";
}

// -- Aujourd'hui ---------------------------------------------------------------------------------

export function Today({ cat }) {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const [done, setDone] = useState([]);
  const [state] = useAsync(() => data.read("today", `me/today?tz=${encodeURIComponent(tz)}`), []);
  const complete = async (e) => {
    setDone((d) => [...d, e.id]);
    const closing = cat.status.find((s) => s.closed && s.active !== false && s.code === "done") ? "done" : undefined;
    await outbox.enqueue({
      kind: "complete", ref: e.id, exchangeUuid: e.uuid, body: closing ? { status: closing } : {},
      summary: e.subject, companyId: e.company && e.company.id,
    });
  };
  const now = Date.now();
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.today}</h1>
    <${Status} state=${state}>${(r) => html`
      <${Fresh} at=${r.at} cached=${r.cached} />
      ${r.value.length === 0 && html`<p class="muted">${t.nothingToday}</p>`}
      <ul class="list">${r.value.map((e) => {
        const late = new Date(e.start).getTime() < now && new Date(e.end || e.start).getTime() < now;
        const isDone = done.includes(e.id);
        return html`<li class="item" key=${e.id}>
          <a class="row" href=${`#/exchanges/${e.id}`}>
            <span class="title">${late && html`<span class="tag late">${t.late}</span> `}${e.subject}</span>
            <span class="meta">${when(e.start)} · ${e.company ? e.company.name : ""} · <${Picklabel} list=${cat.action} code=${e.action} /></span>
          </a>
          <button class="side" disabled=${isDone} onClick=${() => complete(e)}
            aria-label=${`${isDone ? t.completed : t.complete} : ${e.subject}`}>${isDone ? t.completed : t.complete}</button>
        </li>`;
      })}</ul>`}
    <//>
  </main>`;
}

// -- companies -------------------------------------------------------------------------------------

export function Companies() {
  const [text, setText] = useState("");
  const [found, setFound] = useState(null);
  const [recent, setRecent] = useState([]);
  const [followed, setFollowed] = useState([]);
  useEffect(() => {
    store.get("recent").then((r) => setRecent(r || []), () => {});
    (async () => {
      const subs = (await store.get("subscriptions")) || [];
      const list = [];
      for (const s of subs.filter((x) => data.target(x).kind === "company")) {
        const c = await store.get(`company:${data.target(s).id}`);
        if (c) list.push(c);
      }
      setFollowed(list);
    })();
  }, []);
  useEffect(() => {
    if (!text.trim()) return setFound(null);
    let live = true;
    const timer = setTimeout(() => {
      data.searchCompanies(text).then((r) => live && setFound(r)).catch(() => live && setFound([]));
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [text]);
  // Recent companies first among the matches.
  const ranked = found && [
    ...found.filter((c) => recent.some((r) => r.id === c.id)),
    ...found.filter((c) => !recent.some((r) => r.id === c.id)),
  ];
  const list = (title, items) => html`<h2>${title}</h2><ul class="list">${items.map(
    (c) => html`<li class="item" key=${c.id}><a class="row" href=${`#/companies/${c.id}`}>
      <span class="title">${c.name}</span><span class="meta">${c.status}</span></a></li>`,
  )}</ul>`;
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.companies}</h1>
    <label for="q" class="sr-only">${t.searchCompany}</label>
    <input id="q" type="search" placeholder=${t.searchCompany} value=${text} autocomplete="off"
      onInput=${(e) => setText(e.target.value)} />
    ${ranked && (ranked.length ? list(t.results, ranked) : html`<p class="muted" role="status">${t.noResult}</p>`)}
    ${!ranked && recent.length > 0 && list(t.recent, recent)}
    ${!ranked && followed.length > 0 && list(t.followed, followed)}
  </main>`;
}

export function Company({ id, cat, unsentItems }) {
  const [state] = useAsync(() => data.company(id), [id]);
  const [filters, setFilters] = useState({ action: "", status: "", category: "" });
  const [subs, setSubs] = useState(null);
  useEffect(() => {
    store.get("subscriptions").then((s) => setSubs(s || []), () => setSubs([]));
  }, []);
  const subOf = (kind, ident) =>
    subs && subs.find((s) => data.target(s).kind === kind && data.target(s).id === Number(ident));
  const sub = subOf("company", id);
  /** Follow or stop following the company or one of its opportunities. */
  const toggle = async (kind, ident) => {
    const existing = subOf(kind, ident);
    try {
      let next;
      if (existing) {
        await api.request("DELETE", `subscriptions/${existing.id}`);
        next = subs.filter((s) => s.id !== existing.id);
      } else {
        const { data: created } = await api.request("POST", "subscriptions", { json: { [`${kind}_id`]: Number(ident) } });
        next = [...subs, created];
      }
      await store.put("subscriptions", next);
      setSubs(next);
    } catch (err) {
      alertError(err);
    }
  };
  const pending = unsentItems.filter((i) => i.kind === "create" && i.body.company_id === Number(id));
  return html`<main class="screen" id="main" tabindex="-1">
    <${Status} state=${state}>${(c) => html`
      <h1>${c.company.name}</h1>
      <${Fresh} at=${c.at} cached=${c.cached} />
      <p class="meta">${c.company.status}${c.company.owner ? ` · ${c.company.owner}` : ""}</p>
      <button class="secondary" onClick=${() => toggle("company", id)} disabled=${!subs} aria-pressed=${sub ? "true" : "false"}>
        ${sub ? t.unfollow : t.follow}</button>
      <details open=${c.contacts.length > 0 && c.contacts.length < 6}>
        <summary>${t.contacts} (${c.contacts.length})</summary>
        <ul class="list">${c.contacts.map((p) => html`<li class="item" key=${p.id}><div class="row">
          <span class="title">${p.name}</span>
          <span class="meta">${p.title || ""} ${p.phone ? html`· <a href=${`tel:${p.phone}`}>${p.phone}</a>` : ""}
            ${p.email ? html`· <a href=${`mailto:${p.email}`}>${p.email}</a>` : ""}</span></div></li>`)}</ul>
      </details>
      <details open=${c.opportunities.length > 0 && c.opportunities.length < 6}>
        <summary>${t.opportunities} (${c.opportunities.length})</summary>
        <ul class="list">${c.opportunities.map((o) => html`<li class="item" key=${o.id}><div class="row">
          <span class="title">${o.title}</span><span class="meta">${o.stage}${o.amount ? ` · ${o.amount}` : ""}</span></div>
          <button class="side secondary" disabled=${!subs} aria-pressed=${subOf("opportunity", o.id) ? "true" : "false"}
            aria-label=${`${subOf("opportunity", o.id) ? t.unfollow : t.follow} : ${o.title}`}
            onClick=${() => toggle("opportunity", o.id)}>${subOf("opportunity", o.id) ? t.unfollow : t.follow}</button></li>`)}</ul>
      </details>
      <h2>${t.history}</h2>
      <${Filters} cat=${cat} filters=${filters} onChange=${setFilters} />
      ${pending.length > 0 && html`<ul class="list pending">${pending.map(
        (i) => html`<${ExchangeItem} key=${i.seq} e=${{ ...i.body, id: i.seq }} cat=${cat} pending=${true} />`,
      )}</ul>`}
      <${History} id=${id} filters=${filters} cat=${cat} sent=${pending.length === 0} />
      <div class="bar"><a class="button primary" href=${`#/companies/${id}/new`}>${t.newExchange}</a></div>
    `}<//>
  </main>`;
}

function Filters({ cat, filters, onChange }) {
  const select = (name, title, options) => html`<label class="filter">
    <span>${title}</span>
    <select name=${`filter-${name}`} value=${filters[name]} onChange=${(e) => onChange({ ...filters, [name]: e.target.value })}>
      <option value="">${t.all}</option>
      ${options.map((o) => html`<option value=${o.code}>${label(o)}</option>`)}
    </select></label>`;
  return html`<div class="filters">
    ${select("action", t.action, cat.action)}${select("status", t.status, cat.status)}${select("category", t.category, cat.categories)}
  </div>`;
}

function History({ id, filters, cat, sent }) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [meta, setMeta] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const sentinel = useRef(null);
  const key = JSON.stringify(filters);
  useEffect(() => {
    let live = true;
    setItems(null);
    setError(null);
    data.history(id, filters).then(
      (r) => live && (setItems(r.value.items), setCursor(r.value.next_cursor), setMeta(r)),
      (err) => live && setError(err),
    );
    return () => (live = false);
    // Read again once the outbox has delivered this company's exchanges (not after each).
  }, [id, key, sent]);
  const more = useCallback(async () => {
    if (!cursor || busy) return;
    setBusy(true);
    try {
      const r = await data.history(id, filters, cursor);
      setItems((old) => [...old, ...r.value.items]);
      setCursor(r.value.next_cursor);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }, [cursor, busy, key]);
  useEffect(() => {
    if (!sentinel.current || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && more());
    io.observe(sentinel.current);
    return () => io.disconnect();
  }, [more, items]);
  if (error && !items) return html`<p class="notice" role="alert">${error instanceof api.NetworkError ? t.notCached : error.message}</p>`;
  if (!items) return html`<p class="muted" role="status">${t.loading}</p>`;
  return html`<div class="history">
    ${meta.cached && html`<${Fresh} at=${meta.at} cached=${true} />`}
    ${items.length === 0 && html`<p class="muted">${t.noHistory}</p>`}
    <ul class="list" aria-label=${t.history}>${items.map((e) => html`<${ExchangeItem} key=${e.id} e=${e} cat=${cat} />`)}</ul>
    ${cursor && html`<button class="secondary" ref=${sentinel} onClick=${more} disabled=${busy}>${t.more}</button>`}
  </div>`;
}

// -- one exchange ----------------------------------------------------------------------------------

export function Exchange({ id, cat, me, unsentItems }) {
  const [state, reload] = useAsync(() => data.exchange(id), [id]);
  const [files, setFiles] = useState(null);
  useEffect(() => {
    data.attachments(id).then((r) => setFiles(r.value), () => setFiles([]));
  }, [id, unsentItems.length]);
  const queued = unsentItems.filter((i) => i.kind === "attach" && String(i.exchangeId) === String(id));
  const attach = async (list) => {
    const x = state.value.exchange;
    for (const file of list) {
      await outbox.enqueue({
        kind: "attach", key: outbox.uuid(), exchangeId: x.id, exchangeUuid: x.uuid, blob: file,
        filename: file.name || "photo.jpg", summary: file.name, companyId: x.company && x.company.id,
      });
    }
  };
  return html`<main class="screen" id="main" tabindex="-1">
    <${Status} state=${state}>${(r) => {
      const x = r.exchange;
      const users = cat.users;
      const name = (login) => (users.find((u) => u.login === login) || {}).name || login;
      const row = (k, v) => html`<div class="field"><dt>${k}</dt><dd>${v || t.none}</dd></div>`;
      return html`
        <h1>${x.subject}</h1>
        <${Fresh} at=${r.at} cached=${r.cached} />
        <dl class="fields">
          ${row(t.company, x.company && html`<a href=${`#/companies/${x.company.id}`}>${x.company.name}</a>`)}
          ${row(t.action, html`<${Picklabel} list=${cat.action} code=${x.action} />`)}
          ${row(t.status, html`<${Picklabel} list=${cat.status} code=${x.status} />`)}
          ${row(t.medium, x.medium && html`<${Picklabel} list=${cat.medium} code=${x.medium} />`)}
          ${row(t.category, x.category && html`<${Picklabel} list=${cat.categories} code=${x.category} />`)}
          ${row(t.start, when(x.start))}
          ${row(t.end, when(x.end))}
          ${row(t.author, x.author && x.author.name)}
          ${row(t.assignees, (x.assignees || []).map(name).join(", "))}
          ${x.contacts && row(t.contacts, x.contacts.map((c) => c.name).join(", "))}
          ${x.opportunities && row(t.opportunities, x.opportunities.map((o) => o.title).join(", "))}
          ${Object.entries(x.custom || {}).map(([code, v]) => row((cat.fields.find((f) => f.code === code) || {}).label || code,
            typeof v === "boolean" ? (v ? t.yes : t.no) : String(v ?? "")))}
          ${row(t.visibility, x.private ? t.visiblePrivate : t.visiblePublic)}
        </dl>
        ${x.details && html`<h2>${t.details}</h2><p class="details">${x.details}</p>`}
        <h2>${t.attachments}</h2>
        <ul class="list files">
          ${(files || []).map((a) => html`<li class="item" key=${a.id}><a class="row" href=${`/api/v1/attachments/${a.id}/content`} download=${a.name || a.filename}>
            <span class="title">${a.name || a.filename}</span><span class="meta">${Math.ceil(a.size / 1024)} Kio · ${t.uploadDone}</span></a></li>`)}
          ${queued.map((i) => html`<li class="item" key=${i.seq}><div class="row"><span class="title">${i.filename}</span>
            <span class="meta"><span class=${"tag " + (i.state === "pending" ? "warn" : "late")}>${i.state === "pending" ? t.uploadQueued : t.needsFix}</span></span></div></li>`)}
          ${files && files.length === 0 && queued.length === 0 && html`<li class="muted">${t.noAttachment}</li>`}
        </ul>
        <${FilePicker} onFiles=${attach} />
        <div class="bar">
          ${r.etag && !x.closed && html`<button class="secondary" onClick=${async () => {
            await outbox.enqueue({ kind: "complete", ref: x.id, exchangeUuid: x.uuid, body: {}, summary: x.subject });
            reload();
          }}>${t.complete}</button>`}
          ${r.etag && html`<a class="button primary" href=${`#/exchanges/${x.id}/edit`}>${t.edit}</a>`}
        </div>`;
    }}<//>
  </main>`;
}

const ACCEPT = "image/*,application/pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp,.txt,.csv,.eml,.msg";

export function FilePicker({ onFiles }) {
  const [over, setOver] = useState(false);
  const pick = (e) => {
    const list = [...e.target.files];
    e.target.value = "";
    if (list.length) onFiles(list);
  };
  return html`<div class="picker">
    <label class="button secondary">${t.takePhoto}
      <input type="file" accept="image/*" capture="environment" class="sr-only" name="photo" onChange=${pick} /></label>
    <label class="button secondary">${t.chooseFile}
      <input type="file" accept=${ACCEPT} multiple class="sr-only" name="file" onChange=${pick} /></label>
    <div class=${"dropzone" + (over ? " over" : "")} aria-hidden="true"
      onDragOver=${(e) => (e.preventDefault(), setOver(true))} onDragLeave=${() => setOver(false)}
      onDrop=${(e) => {
        e.preventDefault();
        setOver(false);
        const list = [...(e.dataTransfer?.files || [])];
        if (list.length) onFiles(list);
      }}>${t.dropHere}</div>
  </div>`;
}

// -- new / edit ------------------------------------------------------------------------------------

const active = (list) => list.filter((v) => v.active !== false);

/** The same checks as the server's, so most refusals never leave the phone. */
export function validate(form, fields) {
  const errors = {};
  if (!form.subject.trim()) errors.subject = t.required;
  if (!form.action) errors.action = t.required;
  if (form.end && form.start && new Date(form.end) < new Date(form.start)) errors.end = t.endBeforeStart;
  for (const f of active(fields)) {
    const v = form.custom[f.code];
    const empty = v === undefined || v === null || v === "";
    if (empty) {
      if (f.required && f.type !== "boolean") errors[`custom.${f.code}`] = t.required;
      continue;
    }
    if (f.type === "integer" && !/^-?\d+$/.test(String(v).trim())) errors[`custom.${f.code}`] = t.invalidInteger;
    if (f.type === "decimal" && !/^-?\d+([.,]\d+)?$/.test(String(v).trim())) errors[`custom.${f.code}`] = t.invalidDecimal;
    if (f.type === "date" && !/^\d{4}-\d{2}-\d{2}$/.test(String(v))) errors[`custom.${f.code}`] = t.invalidDate;
    if (f.type === "choice" && !(f.choices || []).includes(v)) errors[`custom.${f.code}`] = t.invalidChoice;
  }
  return errors;
}

function customValue(f, v) {
  if (v === undefined || v === null || v === "") return f.type === "boolean" ? false : null;
  if (f.type === "integer") return parseInt(v, 10);
  if (f.type === "decimal") return String(v).replace(",", ".");
  return v;
}

export function ExchangeForm({ cat, me, companyId, original, etag, item, onSaved }) {
  const base = item ? item.body : original ? outbox.representationAsBody(original) : null;
  const defaultAction = active(cat.action).find((a) => a.code === "call") || active(cat.action)[0];
  const defaultStatus = active(cat.status).find((s) => s.code === "planned") || active(cat.status)[0];
  const [form, setForm] = useState(() => ({
    subject: base ? base.subject : "",
    details: base ? base.details || "" : "",
    action: base ? base.action : defaultAction ? defaultAction.code : "",
    status: base ? base.status : defaultStatus ? defaultStatus.code : "",
    medium: base ? base.medium || "" : "",
    category: base ? base.category || "" : "",
    start: toLocalInput(base ? base.start : new Date().toISOString()),
    end: toLocalInput(base && base.end),
    private: base ? !!base.private : false,
    assignees: base ? base.assignees || [] : me ? [me.login] : [],
    opportunity_ids: base ? base.opportunity_ids || [] : [],
    contact_ids: base ? base.contact_ids || [] : [],
    custom: base ? { ...(base.custom || {}) } : {},
  }));
  const company = companyId || (base && base.company_id);
  const [related, setRelated] = useState({ contacts: [], opportunities: [] });
  const [files, setFiles] = useState([]);
  const [errors, setErrors] = useState(() => serverErrors(item));
  useEffect(() => {
    if (!company) return;
    Promise.all([store.get(`contacts:${company}`), store.get(`opportunities:${company}`)]).then(
      ([c, o]) => setRelated({ contacts: c || [], opportunities: o || [] }),
      () => {},
    );
  }, [company]);
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.type === "checkbox" ? e.target.checked : e.target.value });
  const toggleIn = (name, value) => (e) =>
    setForm({ ...form, [name]: e.target.checked ? [...form[name], value] : form[name].filter((x) => x !== value) });
  const setCustom = (code, value) => setForm({ ...form, custom: { ...form.custom, [code]: value } });

  const submit = async (ev) => {
    ev.preventDefault();
    const found = validate(form, cat.fields);
    setErrors(found);
    if (Object.keys(found).length) {
      const first = document.querySelector("[aria-invalid=true]");
      if (first) first.focus();
      return;
    }
    const custom = {};
    for (const f of active(cat.fields)) {
      const v = customValue(f, form.custom[f.code]);
      if (v !== null) custom[f.code] = v;
    }
    const body = {
      subject: form.subject.trim(), details: form.details, action: form.action, status: form.status,
      medium: form.medium || null, category: form.category || null, private: form.private,
      start: fromLocalInput(form.start), end: fromLocalInput(form.end),
      assignees: form.assignees, opportunity_ids: form.opportunity_ids.map(Number),
      contact_ids: form.contact_ids.map(Number), custom,
    };
    if (!body.end) delete body.end;
    let exchangeUuid;
    let exchangeId = null;
    if (item) {
      await outbox.retry(item.seq, item.kind === "update" ? changedFields(item.base || {}, body, item.body) : { ...item.body, ...body });
      return onSaved(item);
    } else if (original) {
      const changes = changedFields(outbox.representationAsBody(original), body);
      exchangeUuid = original.uuid;
      exchangeId = original.id;
      if (Object.keys(changes).length) {
        await outbox.enqueue({
          kind: "update", ref: original.id, exchangeUuid, etag, body: changes,
          base: outbox.representationAsBody(original), summary: body.subject, companyId: company,
        });
      }
    } else {
      exchangeUuid = outbox.uuid();
      await outbox.enqueue({
        kind: "create", uuid: exchangeUuid, body: { uuid: exchangeUuid, company_id: Number(company) || null, ...body },
        summary: body.subject, companyId: company,
      });
    }
    for (const file of files) {
      await outbox.enqueue({
        kind: "attach", key: outbox.uuid(), exchangeUuid, exchangeId, blob: file,
        filename: file.name || "photo.jpg", summary: file.name, companyId: company,
      });
    }
    onSaved({ exchangeUuid, exchangeId });
  };

  const err = (name) => errors[name] && html`<span class="error" id=${`err-${name}`}>${errors[name]}</span>`;
  const inv = (name) => (errors[name] ? { "aria-invalid": "true", "aria-describedby": `err-${name}` } : {});
  const pick = (name, title, list, optional) => {
    const options = active(list);
    const current = form[name];
    const retired = current && !options.some((o) => o.code === current);
    return html`<label for=${name}>${title}</label>
      <select id=${name} name=${name} value=${current} onChange=${set(name)} ...${inv(name)}>
        ${optional && html`<option value="">${t.none}</option>`}
        ${retired && html`<option value=${current}>${current} (!)</option>`}
        ${options.map((o) => html`<option value=${o.code}>${label(o)}</option>`)}
      </select>${err(name)}`;
  };
  return html`<form class="exchange-form" onSubmit=${submit} novalidate>
    ${item && item.error && html`<p class="notice" role="alert">${t.errorOf(item.error.status)} : ${item.error.detail}</p>`}
    <label for="subject">${t.subject}</label>
    <input id="subject" name="subject" value=${form.subject} onInput=${set("subject")} maxlength="500" ...${inv("subject")} />${err("subject")}
    ${pick("action", t.action, cat.action)}
    ${pick("status", t.status, cat.status)}
    ${pick("medium", t.medium, cat.medium, true)}
    ${pick("category", t.category, cat.categories, true)}
    <div class="two">
      <div><label for="start">${t.start}</label>
        <input id="start" name="start" type="datetime-local" value=${form.start} onInput=${set("start")} required /></div>
      <div><label for="end">${t.end}</label>
        <input id="end" name="end" type="datetime-local" value=${form.end} onInput=${set("end")} ...${inv("end")} />${err("end")}</div>
    </div>
    <label for="details">${t.details}</label>
    <textarea id="details" name="details" rows="4" onInput=${set("details")} value=${form.details}></textarea>
    ${active(cat.fields).map((f) => html`<${CustomField} key=${f.code} f=${f} value=${form.custom[f.code]}
      onChange=${(v) => setCustom(f.code, v)} error=${errors[`custom.${f.code}`]} />`)}
    <fieldset><legend>${t.assignees}</legend>
      ${active(cat.users).map((u) => html`<label class="check"><input type="checkbox" name="assignee" value=${u.login}
        checked=${form.assignees.includes(u.login)} onChange=${toggleIn("assignees", u.login)} /> ${u.name}</label>`)}
    </fieldset>
    ${related.opportunities.length > 0 && html`<fieldset><legend>${t.opportunities}</legend>
      ${related.opportunities.map((o) => html`<label class="check"><input type="checkbox" name="opportunity"
        checked=${form.opportunity_ids.includes(o.id)} onChange=${toggleIn("opportunity_ids", o.id)} /> ${o.title}</label>`)}</fieldset>`}
    ${related.contacts.length > 0 && html`<fieldset><legend>${t.contacts}</legend>
      ${related.contacts.map((c) => html`<label class="check"><input type="checkbox" name="contact"
        checked=${form.contact_ids.includes(c.id)} onChange=${toggleIn("contact_ids", c.id)} /> ${c.name}</label>`)}</fieldset>`}
    <label class="check"><input type="checkbox" name="private" checked=${form.private} onChange=${set("private")} /> ${t.private}</label>
    <p class="muted small">${t.privateHelp}</p>
    ${!item && html`<h2>${t.attachments}</h2>
      <${FilePicker} onFiles=${(list) => setFiles([...files, ...list])} />
      <ul class="list files">${files.map((f, i) => html`<li class="item" key=${i}><div class="row"><span class="title">${f.name || "photo"}</span>
        <span class="meta">${t.uploadQueued}</span></div></li>`)}</ul>`}
    <div class="bar"><button type="button" class="secondary" onClick=${() => history.back()}>${t.cancel}</button>
      <button class="primary" type="submit">${t.save}</button></div>
  </form>`;
}

function serverErrors(item) {
  const found = {};
  for (const e of (item && item.error && item.error.errors) || []) {
    const field = String(e.field || "").replace(/^custom\./, "custom.");
    found[field || "subject"] = e.message;
  }
  return found;
}

/** The fields of ``body`` that differ from ``base`` (what an edit sends). */
export function changedFields(base, body, previous = {}) {
  const out = {};
  for (const [k, v] of Object.entries(body)) {
    if (k in previous || JSON.stringify(v) !== JSON.stringify(k === "start" || k === "end" ? iso(base[k]) : base[k])) {
      if (k === "start" || k === "end") {
        if (iso(v) !== iso(base[k]) || k in previous) out[k] = v;
      } else out[k] = v;
    }
  }
  return out;
}
const iso = (v) => (v ? new Date(v).toISOString() : null);

function CustomField({ f, value, onChange, error }) {
  const id = `custom-${f.code}`;
  const attrs = error ? { "aria-invalid": "true", "aria-describedby": `err-${id}` } : {};
  const title = `${f.label}${f.required ? " *" : ""}`;
  const msg = error && html`<span class="error" id=${`err-${id}`}>${error}</span>`;
  if (f.type === "boolean")
    return html`<label class="check"><input type="checkbox" id=${id} name=${id} checked=${!!value}
      onChange=${(e) => onChange(e.target.checked)} /> ${title}</label>`;
  if (f.type === "choice")
    return html`<label for=${id}>${title}</label><select id=${id} name=${id} value=${value ?? ""} onChange=${(e) => onChange(e.target.value)} ...${attrs}>
      <option value="">${t.none}</option>${(f.choices || []).map((c) => html`<option value=${c}>${c}</option>`)}</select>${msg}`;
  const type = f.type === "date" ? "date" : "text";
  const mode = f.type === "integer" ? "numeric" : f.type === "decimal" ? "decimal" : undefined;
  return html`<label for=${id}>${title}</label><input id=${id} name=${id} type=${type} inputmode=${mode} value=${value ?? ""}
    onInput=${(e) => onChange(e.target.value)} ...${attrs} />${msg}`;
}

export function NewExchange({ companyId, cat, me }) {
  const [c, setC] = useState(null);
  useEffect(() => {
    store.get(`company:${companyId}`).then(setC, () => {});
  }, [companyId]);
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.newExchange}</h1>
    ${c && html`<p class="meta">${c.name}</p>`}
    <${ExchangeForm} cat=${cat} me=${me} companyId=${companyId} onSaved=${() => go(`/companies/${companyId}`)} />
  </main>`;
}

export function EditExchange({ id, cat, me }) {
  const [state] = useAsync(() => data.exchange(id), [id]);
  return html`<main class="screen" id="main" tabindex="-1"><h1>${t.edit}</h1>
    <${Status} state=${state}>${(r) => html`<${ExchangeForm} cat=${cat} me=${me} original=${r.exchange}
      etag=${r.etag} onSaved=${() => go(`/exchanges/${id}`)} />`}<//>
  </main>`;
}

// -- outbox, conflicts, corrections ----------------------------------------------------------------

const KIND = { create: "newExchange", update: "edit", complete: "complete", attach: "attach" };

export function Outbox({ unsentItems }) {
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.outbox}</h1>
    <p role="status">${t.unsent(unsentItems.length)}</p>
    <ul class="list">${unsentItems.map((i) => html`<li class="item" key=${i.seq}>
      <a class="row" href=${`#/outbox/${i.seq}`}>
        <span class="title">${t[KIND[i.kind]]} · ${i.summary || ""}</span>
        <span class="meta"><span class=${"tag " + (i.state === "pending" ? "warn" : "late")}>
          ${i.state === "pending" ? t.pending : i.state === "conflict" ? t.conflict : t.needsFix}</span>
          ${i.attempts ? ` · ${i.attempts}×` : ""}</span>
      </a></li>`)}</ul>
    <div class="bar"><button class="primary" onClick=${() => (outbox.resetBackoff(), outbox.sync())}>${t.syncNow}</button></div>
  </main>`;
}

export function OutboxItem({ seq, cat, me }) {
  const [item, setItem] = useState(undefined);
  useEffect(() => {
    store.outboxGet(Number(seq)).then((i) => setItem(i || null));
  }, [seq]);
  if (item === undefined) return html`<main class="screen" id="main" tabindex="-1"><p>${t.loading}</p></main>`;
  if (item === null) {
    return html`<main class="screen" id="main" tabindex="-1"><h1>${t.outbox}</h1><p>${t.sent}</p>
      <a class="button" href="#/outbox">${t.back}</a></main>`;
  }
  const done = () => go("/outbox");
  if (item.state === "conflict") return html`<${Conflict} item=${item} cat=${cat} onDone=${done} />`;
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t[KIND[item.kind]]} · ${item.state === "pending" ? t.pending : t.needsFix}</h1>
    ${item.state === "error" && (item.kind === "create" || item.kind === "update")
      ? html`<${ExchangeForm} cat=${cat} me=${me} item=${item} companyId=${item.companyId} onSaved=${done} />`
      : html`${item.error && html`<p class="notice" role="alert">${t.errorOf(item.error.status)} : ${item.error.detail}</p>`}
        <p>${item.summary}</p>
        <div class="bar">
          <button class="secondary" onClick=${async () => (await outbox.discard(item.seq), done())}>${t.discard}</button>
          <button class="primary" onClick=${async () => (await outbox.retry(item.seq), done())}>${t.retry}</button></div>`}
    ${item.state === "error" && html`<p><button class="secondary" onClick=${async () => (await outbox.discard(item.seq), done())}>${t.discard}</button></p>`}
  </main>`;
}

function show(field, value, cat) {
  if (value == null || value === "") return t.none;
  if (field === "start" || field === "end") return when(value);
  if (field === "action" || field === "status" || field === "medium") {
    const v = cat[field].find((x) => x.code === value);
    return v ? label(v) : value;
  }
  if (typeof value === "boolean") return value ? t.yes : t.no;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function Conflict({ item, cat, onDone }) {
  const theirs = outbox.representationAsBody(item.theirs);
  const fields = Object.keys(item.body).filter(
    (k) => JSON.stringify(item.body[k]) !== JSON.stringify(theirs[k]),
  );
  const [choice, setChoice] = useState(() => Object.fromEntries(fields.map((f) => [f, "mine"])));
  const names = { subject: t.subject, details: t.details, start: t.start, end: t.end, action: t.action, status: t.status,
    medium: t.medium, category: t.category, private: t.private, assignees: t.assignees, custom: t.field };
  const chosen = () => Object.fromEntries(fields.filter((f) => choice[f] === "mine").map((f) => [f, item.body[f]]));
  const act = async (c) => {
    await outbox.resolve(item.seq, c);
    onDone();
  };
  return html`<main class="screen conflict" id="main" tabindex="-1">
    <h1>${t.conflictTitle}</h1>
    <p>${t.conflictHelp}</p>
    <table class="compare">
      <thead><tr><th scope="col">${t.field}</th><th scope="col">${t.mine}</th><th scope="col">${t.theirs}</th></tr></thead>
      <tbody>${fields.map((f) => html`<tr key=${f}>
        <th scope="row">${names[f] || f}</th>
        <td><label class="check"><input type="radio" name=${`pick-${f}`} checked=${choice[f] === "mine"}
          onChange=${() => setChoice({ ...choice, [f]: "mine" })} /> ${show(f, item.body[f], cat)}</label></td>
        <td><label class="check"><input type="radio" name=${`pick-${f}`} checked=${choice[f] === "theirs"}
          onChange=${() => setChoice({ ...choice, [f]: "theirs" })} /> ${show(f, theirs[f], cat)}</label></td>
      </tr>`)}</tbody>
    </table>
    <div class="bar stack">
      <button class="secondary" onClick=${() => act("theirs")}>${t.keepTheirs}</button>
      <button class="secondary" onClick=${() => act(chosen())}>${t.keepChosen}</button>
      <button class="primary" onClick=${() => act("mine")}>${t.keepMine}</button>
    </div>
  </main>`;
}

// -- inbox and the user's settings -------------------------------------------------------------

export function Inbox({ onRead }) {
  const [state, reload] = useAsync(() => data.read("inbox", "inbox?limit=50"), []);
  const readAll = async () => {
    try {
      await api.request("POST", "inbox/read", { json: { ids: "all" } });
      onRead();
      reload();
    } catch (err) {
      alertError(err);
    }
  };
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.inbox}</h1>
    <${Status} state=${state}>${(r) => html`
      <${Fresh} at=${r.at} cached=${r.cached} />
      ${r.value.items.length === 0 && html`<p class="muted">${t.noMessage}</p>`}
      <ul class="list">${r.value.items.map((m) => {
        const target = m.about && m.about.exchange_id ? `#/exchanges/${m.about.exchange_id}` : m.about && m.about.company_id ? `#/companies/${m.about.company_id}` : null;
        const body = html`<span class="title">${m.read_at ? "" : html`<span class="tag warn">${t.unread}</span> `}${m.title}</span>
          <span class="meta">${when(m.created_at)} · ${m.body.slice(0, 140)}</span>`;
        return html`<li class="item" key=${m.id}>${target ? html`<a class="row" href=${target}>${body}</a>` : html`<div class="row">${body}</div>`}</li>`;
      })}</ul>
      <div class="bar"><button class="primary" onClick=${readAll}>${t.markAllRead}</button></div>`}<//>
  </main>`;
}

export function Settings({ session, unsent, onSignOut }) {
  const [persisted, setPersisted] = useState(null);
  const [push, setPush] = useState({ available: null, on: false });
  const [confirming, setConfirming] = useState(false);
  useEffect(() => {
    navigator.storage?.persisted?.().then(setPersisted);
    pushState().then(setPush);
  }, []);
  const togglePush = async () => {
    try {
      setPush(await (push.on ? disablePush() : enablePush()));
    } catch (err) {
      alertError(err);
    }
  };
  const signOut = () => (unsent > 0 && !confirming ? setConfirming(true) : onSignOut());
  const user = session && session.user;
  return html`<main class="screen" id="main" tabindex="-1">
    <h1>${t.me}</h1>
    <p>${t.signedInAs} <strong>${user ? user.name : ""}</strong> (${user ? user.login : ""})</p>
    ${session && session.device && html`<p class="meta">${t.device} : ${session.device.name}</p>`}
    <label for="lang">${t.language}</label>
    <select id="lang" value=${lang} onChange=${(e) => (setLanguage(e.target.value), location.reload())}>
      <option value="fr">Français</option><option value="en">English</option></select>
    <h2>${t.push}</h2>
    ${push.available === false ? html`<p class="muted">${t.pushUnavailable}</p>`
      : html`<label class="check"><input type="checkbox" role="switch" checked=${push.on} disabled=${push.available === null}
          onChange=${togglePush} /> ${push.on ? t.pushOn : t.pushOff}</label>`}
    <h2>${t.storage}</h2>
    <p class="muted">${persisted ? t.persisted : t.notPersisted} · ${t.unsent(unsent)}</p>
    <div class="bar stack">
      <button class="secondary" onClick=${() => (outbox.resetBackoff(), outbox.sync())}>${t.syncNow}</button>
      ${confirming && html`<p class="notice" role="alert">${t.signOutWarn(unsent)}</p>`}
      <button class="danger" onClick=${signOut}>${t.signOut}</button>
    </div>
  </main>`;
}

// -- Web Push ---------------------------------------------------------------------------------------

function keyBytes(base64url) {
  const pad = "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob((base64url + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function pushState() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return { available: false, on: false };
  try {
    await api.get("push/key");
  } catch {
    return { available: false, on: false };
  }
  const reg = await navigator.serviceWorker.ready;
  return { available: true, on: !!(await reg.pushManager.getSubscription()) };
}

async function enablePush() {
  if ((await Notification.requestPermission()) !== "granted") return { available: true, on: false };
  const { public_key: key } = await api.get("push/key");
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  await api.request("POST", "push/subscriptions", { json: sub.toJSON() });
  return { available: true, on: true };
}

export async function disablePush() {
  if (!("serviceWorker" in navigator)) return { available: false, on: false };
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = reg && reg.pushManager && (await reg.pushManager.getSubscription());
  if (sub) {
    await api.request("DELETE", "push/subscriptions", { json: { endpoint: sub.endpoint } }).catch(() => {});
    await sub.unsubscribe();
  }
  return { available: true, on: false };
}

export function alertError(err) {
  const text = err instanceof api.NetworkError ? t.offline : err.message;
  window.dispatchEvent(new CustomEvent("grc-toast", { detail: text }));
}
