"""Fixtures: a fresh strict Nuxeo server per test, and backends configured against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_adapters.nuxeo.plugin import make_nuxeo_backend

from .server import NuxeoProtocol, NuxeoServer

USER = "grc"
PASSWORD = "s3cret-Pa55w0rd"
TOKEN = "nx-token-5f4dcc3b"
BEARER = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"
ROOT = "/default-domain/workspaces/CRM"
#: Small, so that a few hundred kilobytes already take the chunked path.
CHUNK = 256 * 1024


@pytest.fixture
def protocol(tmp_path: Path) -> NuxeoProtocol:
    return NuxeoProtocol(
        tmp_path / "nuxeo-server",
        users={USER: PASSWORD},
        tokens={TOKEN},
        bearer_tokens={BEARER},
    )


@pytest.fixture
def server(protocol: NuxeoProtocol) -> Iterator[NuxeoServer]:
    with NuxeoServer(protocol) as running:
        yield running


def settings_for(server: NuxeoServer, **overrides: Any) -> dict[str, Any]:
    """A configuration table for ``server`` (basic authentication, quick failures)."""
    config: dict[str, Any] = {
        "url": server.nuxeo_url,
        "user": USER,
        "password": PASSWORD,
        "root_path": ROOT,
        "chunk_size": CHUNK,
        "timeout": 5,
        "retries": 2,
        "backoff": 0,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@pytest.fixture
def make_backend(server: NuxeoServer) -> Iterator[Callable[..., NuxeoBackend]]:
    """Builds backends through the plugin's factory; closes them after the test."""
    made: list[NuxeoBackend] = []

    def make(**overrides: Any) -> NuxeoBackend:
        backend = make_nuxeo_backend(settings_for(server, **overrides))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: Callable[..., NuxeoBackend]) -> NuxeoBackend:
    return make_backend()
