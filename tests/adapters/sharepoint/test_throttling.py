"""SharePoint Online as it behaves under load, and libraries that require check-out.

The server modes (see ``server.py``): every N-th request refused with 429 (or 503) and
``Retry-After`` before it is processed — upload fragments included; libraries that require
check-out, with or without a required column.  The backend's pauses go through a recorder
that notes the wait SharePoint asked for (the real header value) and sleeps a hundredth of
it, so that the tests stay fast while checking that the header is honoured.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.adapters.protocol_server import Fault, Request
from tests.adapters.sharepoint.conftest import ROOT, TEST_CHUNK, serve
from tests.adapters.sharepoint.server import SharePointProtocol

from grc_adapters.sharepoint.backend import SharePointBackend
from grc_core.errors import ConfigError, StorageError, StorageUnavailable
from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream, StorageBackendContract, payload

MiB = 1024 * 1024
#: Waits are recorded at their real value and slept at this fraction.
SCALE = 0.01

MODES: dict[str, dict[str, Any]] = {
    "throttled-429": {"throttle_every": 5},
    "throttled-503": {"throttle_every": 4, "throttle_status": 503, "retry_after": "1"},
    "check-out": {"checkout_required": True},
    "check-out-throttled": {"checkout_required": True, "throttle_every": 5},
}


class Waits:
    """Records the pauses a backend asks for and sleeps a scaled-down fraction of each."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds * SCALE)


@pytest.fixture(params=sorted(MODES))
def protocol(request: pytest.FixtureRequest, tmp_path: Path) -> SharePointProtocol:
    """Overrides conftest's: the tests of this module run in every mode."""
    return SharePointProtocol(tmp_path / "sharepoint", **MODES[request.param])


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def make_throttled(make_backend: Callable[..., SharePointBackend], waits: Waits):
    def make(**overrides: Any) -> SharePointBackend:
        backend = make_backend(**overrides)
        backend._sleep = waits
        return backend

    return make


class TestContractUnderThrottlingAndCheckOut(StorageBackendContract):
    @pytest.fixture
    def backend(
        self, make_throttled: Callable[..., SharePointBackend], protocol: SharePointProtocol
    ) -> Iterator[SharePointBackend]:
        backend = make_throttled()
        yield backend
        assert protocol.duplicate_chunks == []
        assert protocol.open_sessions() == []
        # Every document of GRC's tree is checked in: visible to everyone.
        with protocol.lock:
            assert [f.path for f in protocol._all_files() if f.checked_out] == []


def put(backend: SharePointBackend, data: bytes, **metadata: str) -> str:
    return backend.put(new_key(), ChunkedStream(data, max_read=16 * MiB), metadata=metadata)


def read(backend: SharePointBackend, key: str) -> bytes:
    with backend.open(key) as stream:
        return stream.read()


def test_throttled_requests_wait_what_sharepoint_asks_and_are_sent_again(
    make_throttled: Callable[..., SharePointBackend],
    protocol: SharePointProtocol,
    waits: Waits,
):
    backend = make_throttled()
    data = payload(5 * TEST_CHUNK + 7)  # six fragments
    key = put(backend, data)
    assert read(backend, key) == data
    assert protocol.duplicate_chunks == []
    if protocol.throttle_every:
        assert protocol.throttled, "the mode must have throttled something"
        assert waits.asked == [float(protocol.retry_after)] * len(protocol.throttled)


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[tuple[SharePointProtocol, Any]]:
    protocol = SharePointProtocol(tmp_path / "plain")
    with serve(protocol) as server:
        yield protocol, server


def backend_for(server: Any, waits: Waits, **overrides: Any) -> SharePointBackend:
    from tests.adapters.sharepoint.server import SITE, TOKEN

    from grc_adapters.sharepoint.plugin import make_sharepoint_backend

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
    backend._sleep = waits
    return backend


def fragment(step: str) -> Callable[[Request], bool]:
    return lambda r: r.method == "POST" and f"/{step}(" in r.raw_path


def test_throttled_fragments_are_sent_again_at_the_same_offset(plain, waits: Waits):
    protocol, server = plain
    backend = backend_for(server, waits)
    for step in ("startUpload", "continueUpload", "finishUpload"):
        server.inject(Fault("status", fragment(step), status=429, headers={"Retry-After": "3"}))
    data = payload(4 * TEST_CHUNK)
    key = put(backend, data)
    assert read(backend, key) == data
    assert waits.asked == [3.0, 3.0, 3.0]
    fragments = [c for c in protocol.chunk_requests() if c["file"] == key]
    assert [c["offset"] for c in fragments] == [i * TEST_CHUNK for i in range(4)]
    assert protocol.duplicate_chunks == []
    backend.close()


def test_a_long_retry_after_is_waited_not_refused(plain, waits: Waits):
    protocol, server = plain
    backend = backend_for(server, waits)
    server.inject(
        Fault("status", fragment("continueUpload"), status=429, headers={"Retry-After": "120"})
    )
    data = payload(3 * TEST_CHUNK)
    key = put(backend, data)
    assert waits.asked == [120.0]  # two minutes: far beyond the old 30 s cap
    assert read(backend, key) == data
    assert protocol.duplicate_chunks == []
    backend.close()


def test_throttling_beyond_max_retry_wait_gives_up_and_leaves_nothing(plain, waits: Waits):
    protocol, server = plain
    backend = backend_for(server, waits, max_retry_wait=100)
    server.inject(
        Fault("status", fragment("continueUpload"), status=429, headers={"Retry-After": "60"},
              times=5)
    )  # fmt: skip
    with pytest.raises(StorageUnavailable, match=r"throttling.*max_retry_wait = 100 s"):
        put(backend, payload(3 * TEST_CHUNK))
    assert waits.asked == [60.0]  # a second 60 s wait would pass the 100 s budget
    assert protocol.documents(ROOT) == {}
    assert protocol.open_sessions() == []
    backend.close()


def test_a_503_without_retry_after_on_a_fragment_still_abandons(plain, waits: Waits):
    """Not throttling (a proxy, a node that failed after the work): the server may hold
    the fragment, so it is not sent again."""
    protocol, server = plain
    backend = backend_for(server, waits)
    server.inject(Fault("status", fragment("continueUpload"), status=503))
    with pytest.raises(StorageUnavailable):
        put(backend, payload(3 * TEST_CHUNK))
    assert protocol.documents(ROOT) == {}
    backend.close()


def test_a_required_column_without_value_is_reported_clearly(tmp_path: Path, waits: Waits):
    protocol = SharePointProtocol(
        tmp_path / "sp", columns=("GrcRef",), checkout_required=True, required_columns=("GrcRef",)
    )
    with serve(protocol) as server:
        backend = backend_for(server, waits)
        with pytest.raises(StorageError, match="required column") as caught:
            put(backend, b"needs a reference")
        assert "fill out all required properties" in str(caught.value)
        assert protocol.documents(ROOT) == {}, "the checked-out draft was removed"
        assert list(backend.iter_blobs()) == []
        backend.close()
        # Filling the column from GRC is the cure.
        backend = backend_for(server, waits, column_reference="GrcRef")
        key = put(backend, b"with its reference")
        assert read(backend, key) == b"with its reference"
        file = next(f for f in protocol._all_files() if f.uid == key)
        assert not file.checked_out and file.fields["GrcRef"]
        backend.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com:/sites/crm",
        "https://contoso.sharepoint.com/sites/crm/_api/web",
    ],
)
def test_an_api_endpoint_as_site_url_is_refused_at_configuration(url: str):
    from grc_adapters.sharepoint.config import parse_settings

    with pytest.raises(ConfigError, match="site's own address"):
        parse_settings({"site_url": url, "access_token": "T" * 20})


def test_max_retry_wait_is_checked():
    from grc_adapters.sharepoint.config import parse_settings

    base = {"site_url": "https://contoso.sharepoint.com/sites/crm", "access_token": "T" * 20}
    assert parse_settings(base).max_retry_wait == 300
    assert parse_settings({**base, "max_retry_wait": "900"}).max_retry_wait == 900
    with pytest.raises(ConfigError, match="max_retry_wait"):
        parse_settings({**base, "max_retry_wait": -1})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
