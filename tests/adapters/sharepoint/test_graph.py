"""The SharePoint backend in Graph mode (``api = "graph"``) against a strict Graph server.

Every mode of the server — plain, throttled (429 or 503 with ``Retry-After`` on any request,
fragments included), check-out-required library — passes the storage contract; then the
upload-session behaviours: fragments resumed from ``nextExpectedRanges`` after an unknown
outcome (never sent twice), throttled fragments sent again, required columns reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.adapters.protocol_server import Fault, ProtocolServer, Request
from tests.adapters.sharepoint.graph_server import SITE_PATH, TOKEN, UNIT, GraphProtocol

from grc_adapters.sharepoint.graph import GraphBackend
from grc_adapters.sharepoint.plugin import make_sharepoint_backend
from grc_core.errors import BlobExists, ConfigError, StorageError, StorageUnavailable
from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream, StorageBackendContract, payload

MiB = 1024 * 1024
ROOT = "/CRM"
MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "throttled-429": {"throttle_every": 5},
    "throttled-503": {"throttle_every": 4, "throttle_status": 503, "retry_after": "1"},
    "check-out": {"checkout_required": True},
    "check-out-throttled": {"checkout_required": True, "throttle_every": 5},
}


class Waits:
    """Records the waits asked for; sleeps a hundredth of each."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds / 100)


def serve_graph(protocol: GraphProtocol) -> ProtocolServer:
    server = ProtocolServer(protocol)
    server.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    server.httpd.handle_error = lambda *_args: None  # type: ignore[method-assign]
    protocol.base_url = server.url
    return server


def graph_config(server: ProtocolServer, **overrides: Any) -> dict[str, Any]:
    return {
        "api": "graph",
        "site_url": server.url + SITE_PATH,
        "graph_url": server.url + "/v1.0",
        "access_token": TOKEN,
        "chunk_size": UNIT,
        "timeout": 5,
        "retries": 2,
        "retry_backoff": 0.01,
        **overrides,
    }


@pytest.fixture(params=sorted(MODES))
def graph(request: pytest.FixtureRequest, tmp_path: Path) -> GraphProtocol:
    return GraphProtocol(tmp_path / "graph", **MODES[request.param])


@pytest.fixture
def graph_server(graph: GraphProtocol) -> Iterator[ProtocolServer]:
    with serve_graph(graph) as running:
        yield running


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def make_graph(graph_server: ProtocolServer, waits: Waits) -> Iterator[Callable[..., GraphBackend]]:
    built: list[GraphBackend] = []

    def make(**overrides: Any) -> GraphBackend:
        backend = make_sharepoint_backend(graph_config(graph_server, **overrides))
        assert isinstance(backend, GraphBackend)
        backend._sleep = waits
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


class TestGraphContractInEveryMode(StorageBackendContract):
    @pytest.fixture
    def backend(self, make_graph: Callable[..., GraphBackend], graph: GraphProtocol):
        backend = make_graph()
        yield backend
        assert graph.duplicate_fragments == []
        assert graph.open_sessions() == []
        assert [i.path for i in graph.items.values() if i.checked_out] == []


def put(backend: GraphBackend, data: bytes, key: str | None = None, **metadata: str) -> str:
    return backend.put(key or new_key(), ChunkedStream(data, max_read=16 * MiB), metadata=metadata)


def read(backend: GraphBackend, key: str) -> bytes:
    with backend.open(key) as stream:
        return stream.read()


def fragment(index: int) -> Callable[[Request], bool]:
    return lambda r: (
        r.method == "PUT"
        and r.raw_path.startswith("/upload/")
        and r.headers.get("content-range", "").startswith(f"bytes {index * UNIT}-")
    )


@pytest.mark.parametrize("graph", ["plain"], indirect=True)
def test_layout_and_the_key_index(make_graph, graph: GraphProtocol):
    backend = make_graph()
    key = new_key()
    data = payload(3 * UNIT + 11)
    uid = put(backend, data, key, company="ACME", date="2026-03-02", subject="Visite",
              filename="devis.pdf")  # fmt: skip
    assert graph.files("/CRM/ACME") == {"/CRM/ACME/2026-03-02 — Visite/devis.pdf": len(data)}
    assert graph.item_at(f"/CRM/_grc-keys/{key.replace('/', ',')}.txt") is not None
    assert read(backend, key) == data  # by core key, through the index
    with pytest.raises(BlobExists) as caught:
        put(backend, b"again", key)
    assert caught.value.key == uid
    uid2 = put(backend, b"homonym", company="ACME", date="2026-03-02", subject="Visite",
               filename="devis.pdf")  # fmt: skip
    assert graph.item_at("/CRM/ACME/2026-03-02 — Visite/devis (2).pdf").id == uid2
    assert [f["start"] for f in graph.fragments][:4] == [0, UNIT, 2 * UNIT, 3 * UNIT]


@pytest.mark.parametrize("graph", ["plain"], indirect=True)
@pytest.mark.parametrize("fault", ["reset", "slow"])
def test_a_fragment_with_an_unknown_outcome_is_resumed_not_resent(
    make_graph, graph: GraphProtocol, graph_server: ProtocolServer, fault: str
):
    """A reset (the fragment did not land) or a late answer (it did): the session's
    nextExpectedRanges says which, and the upload goes on from there."""
    backend = make_graph(timeout=1.0)
    if fault == "reset":
        graph_server.inject(Fault("reset", fragment(1), after_bytes=1000))
    else:
        graph_server.inject(Fault("slow", fragment(1), seconds=2.0))
    data = payload(4 * UNIT)
    uid = put(backend, data)
    assert read(backend, uid) == data
    assert graph.duplicate_fragments == []
    landed = [f["start"] for f in graph.fragments if f["complete"]]
    assert landed == [0, UNIT, 2 * UNIT, 3 * UNIT]
    asked = [e for e in graph_server.transcript if e["method"] == "GET" and "/upload/" in e["path"]]
    assert len(asked) == 1, "the session was asked what it holds"


@pytest.mark.parametrize("graph", ["plain"], indirect=True)
def test_throttled_fragments_wait_retry_after_and_are_sent_again(
    make_graph, graph: GraphProtocol, graph_server: ProtocolServer, waits: Waits
):
    backend = make_graph()
    for index in (0, 2, 3):
        graph_server.inject(
            Fault("status", fragment(index), status=429, headers={"Retry-After": "7"})
        )
    data = payload(4 * UNIT - 5)
    uid = put(backend, data)
    assert read(backend, uid) == data
    assert waits.asked == [7.0, 7.0, 7.0]
    assert graph.duplicate_fragments == []


@pytest.mark.parametrize("graph", ["plain"], indirect=True)
def test_throttling_beyond_max_retry_wait_leaves_nothing(
    make_graph, graph: GraphProtocol, graph_server: ProtocolServer
):
    backend = make_graph(max_retry_wait=10)
    graph_server.inject(
        Fault("status", fragment(1), status=429, headers={"Retry-After": "6"}, times=3)
    )
    with pytest.raises(StorageUnavailable, match=r"throttling.*max_retry_wait = 10 s"):
        put(backend, payload(3 * UNIT))
    assert [p for p in graph.files(ROOT) if "_grc-keys" not in p] == []
    assert graph.open_sessions() == []


def test_a_required_column_is_reported_and_filling_it_cures(tmp_path: Path):
    protocol = GraphProtocol(
        tmp_path / "g", columns=("GrcRef",), checkout_required=True, required_columns=("GrcRef",)
    )
    with serve_graph(protocol) as server:
        backend = make_sharepoint_backend(graph_config(server))
        with pytest.raises(StorageError, match="required column") as caught:
            put(backend, payload(UNIT + 1))
        assert "fill out all required properties" in str(caught.value)
        assert protocol.files(ROOT) == {}, "the checked-out draft was removed"
        backend.close()
        backend = make_sharepoint_backend(graph_config(server, column_reference="GrcRef"))
        uid = put(backend, b"with its reference")
        assert read(backend, uid) == b"with its reference"
        assert not protocol.items[uid].checked_out
        # A major version: published, not a draft, in a library that keeps minor versions.
        assert protocol.check_ins[-1] == {"comment": "GRC", "checkInAs": "published"}
        backend.close()


def test_a_library_that_does_not_exist_is_named(tmp_path: Path):
    protocol = GraphProtocol(tmp_path / "g")
    with serve_graph(protocol) as server:
        backend = make_sharepoint_backend(graph_config(server, library="Archives"))
        with pytest.raises(StorageError, match=r"'Archives' does not exist.*Shared Documents"):
            put(backend, b"x")
        backend.close()


def test_graph_settings():
    from grc_adapters.sharepoint.config import parse_settings

    site = "https://contoso.sharepoint.com/sites/crm"
    app = {"tenant": "contoso.onmicrosoft.com", "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e"}
    settings = parse_settings({"api": "graph", "site_url": site, "client_secret": "x" * 30, **app})
    assert settings.api == "graph" and settings.client_secret == "x" * 30
    assert "x" * 30 not in repr(settings)
    with pytest.raises(ConfigError, match="client_secret is not supported with api = 'rest'"):
        parse_settings({"site_url": site, "client_secret": "x" * 30, **app})
    with pytest.raises(ConfigError, match="api must be 'rest'"):
        parse_settings({"api": "soap", "site_url": site, "access_token": "T"})
    with pytest.raises(ConfigError, match="needs tenant and client_id"):
        parse_settings({"api": "graph", "site_url": site, "client_secret": "x" * 30})
    with pytest.raises(ConfigError, match="a Microsoft Graph address but not a site's"):
        parse_settings(
            {"api": "graph", "site_url": "https://graph.microsoft.com/v1.0/me/drive",
             "access_token": "T"}
        )  # fmt: skip
    # In Graph mode, a Graph site address is understood; in REST mode it is refused.
    graph_site = "https://graph.microsoft.com/beta/sites/contoso.sharepoint.com:/sites/crm/"
    understood = parse_settings({"api": "graph", "site_url": graph_site, "access_token": "T"})
    assert understood.site_url == site
    assert understood.graph_url == "https://graph.microsoft.com/beta"
    with pytest.raises(ConfigError, match="site's own address"):
        parse_settings({"site_url": graph_site, "access_token": "T"})


# --- app-only authentication through MSAL, against a local Entra ID -------------------------

from tests.adapters.sharepoint.test_certificate_auth import (  # noqa: E402
    ACCESS_TOKEN,
    CLIENT_ID,
    TENANT,
    certificate,  # noqa: F401  (fixture)
    entra,  # noqa: F401  (fixture)
)


@pytest.mark.parametrize("credential", ["client_secret", "certificate"])
def test_app_only_tokens_from_msal(tmp_path: Path, entra, certificate, credential: str):  # noqa: F811
    protocol = GraphProtocol(tmp_path / "g")
    protocol.tokens = {ACCESS_TOKEN}
    app: dict[str, Any] = {"tenant": TENANT, "client_id": CLIENT_ID,
                           "authority": f"{entra.url}/{TENANT}", "access_token": None}  # fmt: skip
    if credential == "client_secret":
        app["client_secret"] = entra.client_secret
    else:
        app["thumbprint"], app["cert_path"] = certificate[1], str(certificate[0])
    with serve_graph(protocol) as server:
        backend = make_sharepoint_backend(graph_config(server, **app))
        uid = put(backend, b"signed in")
        assert read(backend, uid) == b"signed in"
        backend.close()
    scopes = {claims["scope"] for _, claims in entra.assertions}
    assert scopes == {f"{server.url}/.default"}
    assert bool(entra.assertions[0][1].get("secret")) == (credential == "client_secret")


def test_a_wrong_client_secret_is_an_auth_error(tmp_path: Path, entra):  # noqa: F811
    from grc_core.errors import StorageAuthError

    protocol = GraphProtocol(tmp_path / "g")
    with serve_graph(protocol) as server:
        backend = make_sharepoint_backend(
            graph_config(server, tenant=TENANT, client_id=CLIENT_ID, access_token=None,
                         authority=f"{entra.url}/{TENANT}", client_secret="wrong-secret-value")
        )  # fmt: skip
        with pytest.raises(StorageAuthError, match="AADSTS7000215"):
            put(backend, b"x")
        assert "wrong-secret-value" not in repr(backend)
        backend.close()
