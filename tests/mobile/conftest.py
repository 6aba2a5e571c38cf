"""Fixtures of the mobile web app's browser tests.

One real ``grc serve`` per database kind and module (SQLite and PostgreSQL), a populated
world, devices enrolled with ``grc device enrol`` as a user would, and Debian's Chromium
driven by Playwright with phone (Pixel 7) or tablet (iPad) emulation.  One browser serves the
whole run; each test opens its own context (cookies, IndexedDB and service worker apart).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import DATABASES, DatabaseFactory

from grc_core.config import Settings
from grc_core.facade import Grc
from grc_core.services import companies, custom_fields, exchanges, opportunities, users

GRC = Path(sys.executable).with_name("grc")
CHROMIUM = "/usr/bin/chromium"
PHONE = "Pixel 7"
TABLET = "iPad (gen 7)"
#: The brief's phone size, used for screenshots and the accessibility checks.
PHONE_VIEWPORT = {"width": 360, "height": 740}
SECRET = "Projet Narval confidentiel"


@dataclass
class MobileWorld:
    """A committed database served by ``grc serve`` on 127.0.0.1."""

    grc: Grc
    kind: str
    env: dict[str, str]
    base: str = ""
    ids: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def enrol_code(self, login: str) -> str:
        """A one-time code printed by ``grc device enrol`` (as an administrator would)."""
        done = subprocess.run(
            [str(GRC), "--as", "admin", "device", "enrol", login, "--name", "test"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        match = re.search(r"#/enrol/([A-Za-z0-9-]+)", done.stdout) or re.search(
            r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", done.stdout
        )
        assert match, done.stdout
        return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(grc: Grc) -> dict[str, Any]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        alice = users.create_user(s, admin, login="alice", display_name="Alice Martin")
        bob = users.create_user(s, admin, login="bob", display_name="Bob Durand")
        acme = companies.create_company(s, admin, name="ACME Électricité", status="client")
        globex = companies.create_company(s, admin, name="Globex", status="prospect")
        companies.create_contact(s, admin, acme.id, last_name="Durand", first_name="Élise")
        deal = opportunities.create_opportunity(s, admin, acme.id, title="Renouvellement")
        secret = exchanges.create_exchange(
            s, bob, subject=SECRET, start=t0, action="call", company_id=acme.id,
            private=True, details="Ne doit jamais quitter le serveur",
        )  # fmt: skip
        shared = exchanges.create_exchange(
            s, alice, subject="Appel de suivi", start=t0 + timedelta(hours=1), action="call",
            company_id=acme.id, details="Point sur le chantier",
        )  # fmt: skip
        for i in range(30):  # enough for a second history page
            exchanges.create_exchange(
                s, alice, subject=f"Échange ancien {i:02d}", action="email",
                start=t0 - timedelta(days=i + 1), company_id=acme.id,
            )  # fmt: skip
        custom_fields.define_field(s, admin, code="budget", label="Budget", type="decimal")
        s.flush()
        return {
            "admin": admin.id,
            "alice": alice.id,
            "bob": bob.id,
            "acme": acme.id,
            "globex": globex.id,
            "deal": deal.id,
            "secret": secret.id,
            "shared": shared.id,
        }


@pytest.fixture(scope="module", params=DATABASES)
def mobile_world(
    request: pytest.FixtureRequest,
    db_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MobileWorld]:
    """A migrated, populated database and ``grc serve`` on it, per module and kind."""
    url = db_factory.url(request.param)
    storage = tmp_path_factory.mktemp("blobs")
    grc = Grc(Settings(database_url=url, storage={"local": {"root": str(storage)}}))
    grc.upgrade()
    world = MobileWorld(grc, request.param, env={})
    world.ids = populate(grc)
    config = tmp_path_factory.mktemp("cfg") / "grc.toml"
    config.write_text("")
    port = free_port()
    world.base = f"http://127.0.0.1:{port}"
    world.env = {
        **os.environ,
        "GRC_DATABASE_URL": url,
        "GRC_STORAGE__LOCAL__ROOT": str(storage),
        "GRC_CONFIG": str(config),
        "GRC_API_BASE_URL": world.base,
        # Each emulated device is its own client for the failed-authentication limit (a
        # revoked device's refused requests must not lock the next test's device out).
        "GRC_API_TRUSTED_PROXIES": "127.0.0.1",
    }
    log = tmp_path_factory.mktemp("log") / "server.log"
    with log.open("wb") as out:
        world.process = subprocess.Popen(
            [str(GRC), "serve", "--port", str(port), "--log-level", "warning"],
            env=world.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{world.base}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if world.process.poll() is not None or time.monotonic() > deadline:
            world.process.kill()
            pytest.fail(f"grc serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    yield world
    world.process.terminate()
    try:
        world.process.wait(10)
    except subprocess.TimeoutExpired:
        world.process.kill()
        world.process.wait()
    grc.dispose()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield browser
    browser.close()


class Device:
    """A phone or tablet with the app open: its browser context and page."""

    count = 0

    def __init__(self, playwright: Any, browser: Any, world: MobileWorld, device: str,
                 **options: Any) -> None:  # fmt: skip
        self.world = world
        settings = {
            **playwright.devices[device],
            "locale": "fr-FR",
            "timezone_id": "Europe/Paris",
            **options,
        }
        settings.pop("default_browser_type", None)
        Device.count += 1
        address = f"192.0.2.{Device.count % 250 + 1}"  # documentation range: a name only
        settings["extra_http_headers"] = {"X-Forwarded-For": address}
        self.context = browser.new_context(base_url=world.base, **settings)
        self.errors: list[str] = []
        self.page = self.new_page()

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Anything the Content-Security-Policy blocked is a defect of the app.
        page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and self.errors.append(m.text),
        )
        page.set_default_timeout(15000)
        return page

    def reopen(self, route: str = "/#/today") -> Any:
        """Close the page and open the app again (as after swiping it away)."""
        self.page.close()
        self.page = self.new_page()
        self.page.goto(route)
        return self.page

    def enrol(self, login: str = "alice") -> None:
        code = self.world.enrol_code(login)
        self.page.goto(f"/#/enrol/{code}")
        self.page.get_by_role("button", name="Activer").click()
        self.page.wait_for_url(re.compile(r".*#/today$"))
        self.wait_js("navigator.serviceWorker.controller !== null")
        # The catalogue (picklists, fields, users) is on the device: forms can be filled.
        self.page.wait_for_selector("html[data-catalogue]", state="attached")

    def wait_js(self, expression: str, timeout: float = 15) -> None:
        """Wait until ``expression`` is true in the page.  Playwright's wait_for_function
        polls through eval(), which the app's Content-Security-Policy rightly forbids;
        page.evaluate goes through the DevTools protocol instead."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def unsent(self) -> int:
        return int(self.page.locator("a.unsent").get_attribute("data-unsent") or "0")

    def wait_unsent(self, n: int, timeout: float = 20000) -> None:
        self.page.wait_for_selector(f"a.unsent[data-unsent='{n}']", timeout=timeout)

    def storage_dump(self) -> str:
        """Everything the app keeps in IndexedDB, as text (blobs by their size)."""
        return str(
            self.page.evaluate(
                """async () => {
                  const names = (await indexedDB.databases()).map((d) => d.name);
                  const out = {};
                  for (const name of names) {
                    const db = await new Promise((ok, ko) => {
                      const r = indexedDB.open(name); r.onsuccess = () => ok(r.result);
                      r.onerror = () => ko(r.error);
                    });
                    for (const store of db.objectStoreNames) {
                      const tx = db.transaction(store);
                      const all = await new Promise((ok) => {
                        const q = tx.objectStore(store).getAll(); q.onsuccess = () => ok(q.result);
                      });
                      out[`${name}/${store}`] = all;
                    }
                    db.close();
                  }
                  return JSON.stringify(out, (k, v) => v instanceof Blob ? `blob:${v.size}` : v);
                }"""
            )
        )

    def databases(self) -> list[str]:
        return list(
            self.page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
        )

    def cache_names(self) -> list[str]:
        return list(self.page.evaluate("async () => await caches.keys()"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def phone(playwright_instance: Any, browser: Any, mobile_world: MobileWorld) -> Iterator[Device]:
    device = Device(playwright_instance, browser, mobile_world, PHONE)
    yield device
    device.close()
    assert not device.errors, device.errors


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)
