"""The mobile web app's figures: cold load on a slow mobile network, size, offline reading,
and syncing a full outbox.

Usage::

    .venv/bin/python benchmarks/mobile.py [--queued 100] [--db sqlite|postgresql]

Starts ``grc serve`` on a fresh database (SQLite file, or the PostgreSQL database
``grc_bench_mobile``) with a company of 200 exchanges, enrols a device with
``grc device enrol`` and drives Debian's Chromium (Pixel 7 emulation) with Playwright:

* **cold load**: no HTTP cache, no service worker, the network throttled through the Chrome
  DevTools Protocol (150 ms latency, 1.6 Mbit/s down, 750 kbit/s up); from navigation to the
  *Aujourd'hui* screen showing its data.  Goal ≤ 3 s.
* **size**: JavaScript + CSS of the built app, raw and gzip-compressed.  Goal ≤ 150 KB
  compressed.
* **offline history**: with the network off, from tapping a company kept on the device to its
  history on screen, measured in the page.  Goal ≤ 100 ms.
* **sync**: ``--queued`` exchanges recorded offline (written to the outbox as the app writes
  them), then back online: time until the last one is acknowledged, and the database count.
  Goal: 100 in ≤ 10 s.

Nothing here is a test: it prints the figures and whether each goal is met.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

from grc_core.config import Settings
from grc_core.facade import Grc
from grc_core.models import Exchange
from grc_core.services import companies, exchanges, users

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "grc_api" / "web" / "static"
GRC = Path(sys.executable).with_name("grc")
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_NAME = "grc_bench_mobile"
#: Chrome DevTools Protocol network conditions of a slow mobile network (bytes per second).
SLOW = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.sqlite3'}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_NAME}"


def populate(grc: Grc) -> int:
    now = datetime.now(UTC)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        alice = users.create_user(s, admin, login="alice", display_name="Alice")
        acme = companies.create_company(s, admin, name="ACME", status="client")
        for i in range(200):
            exchanges.create_exchange(
                s, alice, subject=f"Échange {i}", start=now - timedelta(hours=i + 1),
                action="call", company_id=acme.id, details="Compte rendu " * 20,
            )  # fmt: skip
        exchanges.create_exchange(
            s, admin, subject="Rappeler le client", start=now - timedelta(hours=1),
            action="todo", company_id=acme.id, assignees=["alice"],
        )  # fmt: skip
        return int(acme.id)


def sizes() -> dict[str, int]:
    raw = gz = 0
    for asset in (STATIC / "assets").iterdir():
        data = asset.read_bytes()
        raw += len(data)
        gz += len(gzip.compress(data, 9, mtime=0))
    return {"raw": raw, "gzip": gz}


def enrol_code(env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(GRC), "--as", "admin", "device", "enrol", "alice"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"#/enrol/([A-Za-z0-9-]+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="grc-bench-mobile-"))
    url = database(args.db, folder)
    grc = Grc(Settings(database_url=url, storage={"local": {"root": str(folder / "blobs")}}))
    grc.upgrade()
    company = populate(grc)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = folder / "grc.toml"
    config.write_text("")
    env = {
        **os.environ,
        "GRC_DATABASE_URL": url,
        "GRC_STORAGE__LOCAL__ROOT": str(folder / "blobs"),
        "GRC_CONFIG": str(config),
        "GRC_API_BASE_URL": base,
    }
    server = subprocess.Popen(
        [str(GRC), "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    figures: dict[str, Any] = {"db": args.db, "size": sizes()}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            device = {k: v for k, v in p.devices["Pixel 7"].items() if k != "default_browser_type"}

            # Enrol once; the cold load then starts with the session cookies only.
            context = browser.new_context(base_url=base, locale="fr-FR", **device)
            page = context.new_page()
            page.goto(f"/#/enrol/{enrol_code(env)}")
            page.get_by_role("button", name="Activer").click()
            page.wait_for_url(re.compile(r".*#/today$"))
            cookies = context.cookies()
            context.close()

            cold = browser.new_context(base_url=base, locale="fr-FR", service_workers="block",
                                       **device)  # fmt: skip
            cold.add_cookies(cookies)
            page = cold.new_page()
            cdp = cold.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            cdp.send("Network.emulateNetworkConditions", SLOW)
            started = time.perf_counter()
            page.goto("/#/today")
            page.wait_for_selector("text=Rappeler le client", timeout=30000)
            figures["cold_load_s"] = round(time.perf_counter() - started, 3)
            cold.close()

            # Offline reading and the outbox, on a device with the service worker.
            context = browser.new_context(base_url=base, locale="fr-FR", **device)
            context.add_cookies(cookies)
            page = context.new_page()
            page.goto(f"/#/companies/{company}")
            page.wait_for_selector("text=Échange 0")
            # (not wait_for_function: its polling uses eval(), which the CSP forbids)
            while not page.evaluate("navigator.serviceWorker.controller !== null"):
                time.sleep(0.1)
            page.goto("/#/companies")
            page.wait_for_selector("text=ACME")
            context.set_offline(True)
            figures["offline_history_ms"] = round(
                page.evaluate(
                    """(id) => new Promise((done) => {
                      const t0 = performance.now();
                      const seen = () => document.querySelector(
                        "ul[aria-label=Historique] li, ul[aria-label=History] li");
                      const observer = new MutationObserver(() => {
                        if (seen()) { observer.disconnect(); done(performance.now() - t0); }
                      });
                      observer.observe(document.body, {childList: true, subtree: true});
                      document.querySelector(`a[href="#/companies/${id}"]`).click();
                    })""",
                    company,
                ),
                1,
            )

            subjects = [f"Hors ligne {i} {uuid.uuid4().hex[:8]}" for i in range(args.queued)]
            start = datetime.now(UTC).isoformat()
            items = []
            for subject in subjects:
                ident = str(uuid.uuid4())
                body = {
                    "uuid": ident, "company_id": company, "subject": subject, "details": "",
                    "action": "call", "status": "done", "private": False, "start": start,
                    "assignees": ["alice"], "opportunity_ids": [], "contact_ids": [],
                    "custom": {},
                }  # fmt: skip
                items.append({"kind": "create", "uuid": ident, "body": body, "state": "pending",
                              "attempts": 0, "summary": subject, "companyId": company})  # fmt: skip
            page.evaluate(
                """(items) => new Promise((done, fail) => {
                  const open = indexedDB.open("grc");
                  open.onsuccess = () => {
                    const tx = open.result.transaction("outbox", "readwrite");
                    for (const item of items) tx.objectStore("outbox").add(item);
                    tx.oncomplete = () => { open.result.close(); done(); };
                    tx.onerror = () => fail(tx.error);
                  };
                })""",
                items,
            )
            page.reload()
            page.wait_for_selector(f"a.unsent[data-unsent='{args.queued}']")
            started = time.perf_counter()
            context.set_offline(False)
            page.wait_for_selector("a.unsent[data-unsent='0']", timeout=120000)
            figures["sync_s"] = round(time.perf_counter() - started, 3)
            with grc.session() as s:
                figures["synced_in_db"] = int(
                    s.scalar(select(func.count()).where(Exchange.subject.in_(subjects))) or 0
                )
            context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
        grc.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queued", type=int, default=100)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    f = run(args)
    kb = f["size"]["gzip"] / 1024
    print(json.dumps(f, indent=2))
    print(f"cold load on a slow mobile network: {f['cold_load_s']:.2f} s (goal ≤ 3 s)"
          f" {'ok' if f['cold_load_s'] <= 3 else 'MISSED'}")  # fmt: skip
    print(f"JavaScript + CSS: {f['size']['raw'] / 1024:.1f} KB, {kb:.1f} KB gzip (goal ≤ 150 KB)"
          f" {'ok' if kb <= 150 else 'MISSED'}")  # fmt: skip
    print(f"cached history offline: {f['offline_history_ms']:.1f} ms (goal ≤ 100 ms)"
          f" {'ok' if f['offline_history_ms'] <= 100 else 'MISSED'}")  # fmt: skip
    ok = f["sync_s"] <= 10 * args.queued / 100 and f["synced_in_db"] == args.queued
    print(f"{args.queued} queued exchanges synced in {f['sync_s']:.2f} s, "
          f"{f['synced_in_db']} in the database (goal 100 in ≤ 10 s, each once)"
          f" {'ok' if ok else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
