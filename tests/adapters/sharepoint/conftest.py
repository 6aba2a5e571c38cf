"""Fixtures: a strict SharePoint server per test, and backends configured against it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.adapters.protocol_server import ProtocolServer
from tests.adapters.sharepoint.server import SITE, TOKEN, SharePointProtocol

from grc_adapters.sharepoint.backend import SharePointBackend
from grc_adapters.sharepoint.plugin import make_sharepoint_backend

#: The upload-session fragment size of the tests: small, so that multi-fragment paths run.
TEST_CHUNK = 256 * 1024
#: Where the tests' backends keep their tree.
ROOT = f"{SITE}/Shared Documents/CRM"

MakeBackend = Callable[..., SharePointBackend]


@pytest.fixture
def protocol(tmp_path) -> SharePointProtocol:
    return SharePointProtocol(tmp_path / "sharepoint")


@contextlib.contextmanager
def serve(protocol: SharePointProtocol) -> Iterator[ProtocolServer]:
    """Serve ``protocol`` on localhost for the duration of a ``with`` block."""
    running = ProtocolServer(protocol)
    # The handler writes headers and body separately: without TCP_NODELAY, Nagle's
    # algorithm meets the client's delayed ACK and every request costs 40 ms.
    running.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    # A short poll interval: shutting a server down waits for it (0.5 s by default).
    running.thread = threading.Thread(
        target=running.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    with running:
        yield running


@pytest.fixture
def server(protocol) -> Iterator[ProtocolServer]:
    with serve(protocol) as running:
        yield running


@pytest.fixture
def make_backend(server) -> Iterator[MakeBackend]:
    """Builds backends through the plugin's factory, as GRC does."""
    built: list[SharePointBackend] = []

    def make(**overrides: Any) -> SharePointBackend:
        config = {
            "site_url": server.url + SITE,
            "access_token": TOKEN,
            "chunk_size": TEST_CHUNK,
            "timeout": 5,
            "retries": 2,
            "retry_backoff": 0.01,
            **overrides,
        }
        backend = make_sharepoint_backend(config)
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


@pytest.fixture
def backend(make_backend) -> SharePointBackend:
    return make_backend()
