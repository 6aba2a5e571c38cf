"""The cookie flow against a real ``grc serve`` (uvicorn) on 127.0.0.1 and a random port,
on SQLite and PostgreSQL: enrol, read, write with the CSRF token, revoke from the command
line (another process) → the device is refused and told to wipe its data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import ApiWorld
from tests.api.test_server import free_port

from grc_api.web import STATIC_ROOT, WEB_CSP

from .conftest import enrolment_code

GRC = Path(sys.executable).with_name("grc")


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, env: dict[str, str]) -> None:
        self.process, self.base, self.env = process, base, env


@pytest.fixture(scope="module")
def server(api_world: ApiWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    config = tmp_path_factory.mktemp("cfg") / "grc.toml"
    config.write_text("")
    env = {
        **os.environ,
        "GRC_DATABASE_URL": api_world.url,
        "GRC_STORAGE__LOCAL__ROOT": api_world.storage,
        "GRC_CONFIG": str(config),
        "GRC_API_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = tmp_path_factory.mktemp("log") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GRC), "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"grc serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield Server(process, base, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """The cookies a browser keeps from ``Set-Cookie`` (read by hand: they are ``Secure``,
    which browsers accept on http://127.0.0.1 but a cookie jar does not)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        pair = header.split(";", 1)[0]
        name, _, value = pair.partition("=")
        found[name] = value.strip('"')
    return found


def test_the_cookie_flow_on_a_real_server(server, api_world):
    with httpx.Client(base_url=server.base, timeout=10) as http:
        home = http.get("/")
        assert home.headers["content-security-policy"] == WEB_CSP
        assert home.status_code == (200 if (STATIC_ROOT / "index.html").is_file() else 404)
        made = http.post(
            "/api/v1/devices/enrolments",
            json={"device_name": "Pixel 7"},
            headers=api_world.headers("entitled"),
        )
        assert made.json()["link"] == f"{server.base}/#/enrol/{made.json()['code']}"
        enrol = http.post(
            "/api/v1/session/enrol",
            json={"code": made.json()["code"]},
            headers={"Origin": server.base},
        )
        assert enrol.status_code == 200, enrol.text
        raw = " ".join(enrol.headers.get_list("set-cookie")).lower()
        assert raw.count("secure") == 2 and raw.count("samesite=strict") == 2
        jar = cookies_of(enrol)
        cookie = {"Cookie": f"grc_session={jar['grc_session']}; grc_csrf={jar['grc_csrf']}"}
        assert http.get("/api/v1/session", headers=cookie).json()["user"]["login"] == "alice"
        body = {"subject": "Depuis le téléphone", "start": "2026-03-02T10:00:00+01:00",
                "action": "call"}  # fmt: skip
        assert http.post("/api/v1/exchanges", json=body, headers=cookie).status_code == 403
        created = http.post(
            "/api/v1/exchanges", json=body, headers={**cookie, "X-CSRF-Token": jar["grc_csrf"]}
        )
        assert created.status_code == 201, created.text
        device = enrol.json()["device"]["id"]
        # Revoked from the command line, another process: refused within the cache delay.
        revoked = subprocess.run(
            [str(GRC), "--as", "admin", "device", "revoke", str(device)],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 15
        while True:
            answer = http.get("/api/v1/history", headers=cookie)
            if answer.status_code == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 401
        assert answer.json()["type"].endswith("device-revoked")
        assert answer.headers["clear-site-data"] == '"cache", "storage"'
        assert "grc_session=" in " ".join(answer.headers.get_list("set-cookie"))
        sync = http.post(
            "/api/v1/exchanges",
            json={**body, "subject": "hors ligne"},
            headers={**cookie, "X-CSRF-Token": jar["grc_csrf"]},
        )
        assert sync.status_code == 401


def test_the_server_counts_failed_enrolments_in_the_database(server, api_world):
    from sqlalchemy import func, select

    from grc_core.models import AuthFailure

    with httpx.Client(base_url=server.base, timeout=10) as http:
        assert http.post("/api/v1/session/enrol", json={"code": "ZZZZ-ZZZZ"}).status_code == 400
        good = enrolment_code(api_world, "bob")
        assert http.post("/api/v1/session/enrol", json={"code": good}).status_code == 200
    with api_world.grc.session() as s:
        counted = s.scalar(
            select(func.count()).where(AuthFailure.client == "127.0.0.1")  # grc serve: shared
        )
    assert counted and counted >= 1
