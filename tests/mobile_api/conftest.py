"""Fixtures of the mobile API tests: the HTTP API tests' world (a committed database per
module, on SQLite and PostgreSQL), clients that keep the device's cookies, enrolment codes.

The in-process client talks to ``https://testserver``: the session cookies are ``Secure``
and a cookie jar only sends those over HTTPS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiWorld, api_world  # noqa: F401 (a fixture)

from grc_api import ApiSettings, create_app
from grc_core.services import devices

WEB_FILES = {
    "index.html": "<!doctype html><title>GRC</title><script src='/assets/app-0123abcd.js'>"
    "</script>",
    "sw.js": "self.addEventListener('fetch', () => {});",
    "manifest.webmanifest": '{"name": "GRC", "start_url": "/", "display": "standalone"}',
    "assets/app-0123abcd.js": "console.log('app');",
    "icons/icon-192.png": "png",
}


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the built application (the real one is built by ``make web``)."""
    root = tmp_path_factory.mktemp("web")
    for name, text in WEB_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def app(api_world: ApiWorld, web_root: Path) -> Any:  # noqa: F811
    return create_app(
        api_world.grc,
        settings=ApiSettings(auth_failures=1000, credential_cache=0),
        web_root=web_root,
    )


def browser(app: Any) -> httpx.Client:
    """A client with a cookie jar, as a browser on the application's origin."""
    import warnings

    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


@pytest.fixture
def client(app: Any) -> Iterator[httpx.Client]:
    with browser(app) as c:
        yield c


def enrolment_code(world: ApiWorld, login: str = "alice", **kwargs: Any) -> str:
    """A fresh one-time code for ``login``, made by the administrator."""
    with world.grc.acting_as("admin") as work:
        return devices.create_enrolment(work.session, work.actor, login, **kwargs).code


def enrolled(client: httpx.Client, world: ApiWorld, login: str = "alice") -> dict[str, Any]:
    """Enrol ``client`` as ``login``; the response body."""
    response = client.post(
        "/api/v1/session/enrol",
        json={"code": enrolment_code(world, login), "device_name": "Pixel 7"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def csrf(client: httpx.Client) -> dict[str, str]:
    """The header a script sends with unsafe requests: the ``grc_csrf`` cookie's value."""
    return {"X-CSRF-Token": client.cookies["grc_csrf"]}
