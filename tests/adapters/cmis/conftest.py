"""Fixtures: a strict CMIS Browser binding server on localhost, and backends pointed at it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from grc_adapters.cmis.backend import CmisBackend
from grc_adapters.cmis.plugin import make_cmis_backend

from ..protocol_server import ProtocolServer
from .server import BASE, CmisProtocol

USER = "grc-service"
PASSWORD = "s3cret-pass"


@pytest.fixture
def protocol(tmp_path) -> CmisProtocol:
    return CmisProtocol(tmp_path / "server-store", user=USER, password=PASSWORD)


def serve(protocol: CmisProtocol) -> ProtocolServer:
    """A server for ``protocol``, answering without Nagle's delay.

    The shared server writes headers and body in separate writes; with Nagle's algorithm
    on, each answer then waits for the client's delayed ACK (40 ms on Linux).  Accepted
    sockets inherit TCP_NODELAY from the listening socket.
    """
    running = ProtocolServer(protocol)
    running.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # serve_forever polls for shutdown every 0.5 s by default: half a second per test.
    running.thread = threading.Thread(
        target=running.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    return running


@pytest.fixture
def server(protocol) -> Iterator[ProtocolServer]:
    with serve(protocol) as running:
        yield running


def settings(server: ProtocolServer, **overrides: Any) -> dict[str, Any]:
    """The backend's configuration table for ``server`` (short timeouts for tests)."""
    config: dict[str, Any] = {
        "url": server.url + BASE,
        "user": USER,
        "password": PASSWORD,
        "root_path": "/Sites/crm/documentLibrary/CRM",
        "timeout": 5,
        "retries": 2,
        "retry_backoff": 0.01,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@pytest.fixture
def make_backend(server) -> Iterator[Callable[..., CmisBackend]]:
    """Builds backends through the plugin's factory (so its parsing is exercised too)."""
    made: list[CmisBackend] = []

    def make(**overrides: Any) -> CmisBackend:
        backend = make_cmis_backend(settings(server, **overrides))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend) -> CmisBackend:
    return make_backend()
