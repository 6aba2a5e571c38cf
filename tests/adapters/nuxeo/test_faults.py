"""Injected faults: each has its documented outcome, and nothing is left on the server.

The outcomes (docs/backends/nuxeo.md, "Failures"):

==========================================  =================================================
fault                                       outcome
==========================================  =================================================
429/5xx on a read (GET)                     repeated by the client's retry policy
429/5xx or a reset on a chunk               the upload resumes: the server is asked which
                                            chunks it holds, the missing ones are sent
429/5xx or a timeout on a creation          checked by core key, then repeated with the same
                                            ``Idempotency-Key``: one document
401 / 403 anywhere                          :class:`StorageAuthError` at once, batch deleted
more failures than ``retries``              :class:`StorageUnavailable`, batch deleted
==========================================  =================================================
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.errors import StorageAuthError, StorageError, StorageUnavailable
from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream, payload

from ..protocol_server import Fault, Request
from .conftest import CHUNK, ROOT
from .server import NuxeoProtocol, NuxeoServer

MiB = 1024 * 1024
DATA = payload(3 * CHUNK + 5)  # four chunks
NUXEO_500 = {"entity-type": "exception", "status": 500, "message": "java.lang.RuntimeException"}
#: Where the document of a put without hints is created: "<root>/No company".
FILE_FOLDER = f"{ROOT}/No company"


def put(backend: NuxeoBackend, data: bytes = DATA) -> str:
    return backend.put(new_key(), ChunkedStream(data, max_read=16 * MiB))


def read(backend: NuxeoBackend, key: str) -> bytes:
    with backend.open(key) as stream:
        return b"".join(iter(lambda: stream.read(65536), b""))


def chunk(index: int) -> Callable[[Request], bool]:
    return lambda r: r.method == "POST" and r.headers.get("x-upload-chunk-index") == str(index)


def creating_the_file(r: Request) -> bool:
    return r.method == "POST" and r.path.endswith(FILE_FOLDER)


def reading_a_document(r: Request) -> bool:
    return r.method == "GET" and "/id/" in r.path and "/@" not in r.path


def opening_a_batch(r: Request) -> bool:
    return r.method == "POST" and r.path.endswith("/upload")


def searching(r: Request) -> bool:
    return r.method == "GET" and r.path.endswith("/NXQL/execute")


def listing(r: Request) -> bool:
    return r.method == "GET" and r.path.endswith("/@children")


def hits(server: NuxeoServer, match: Callable[[Request], bool]) -> int:
    """How many transcript entries ``match`` would select (it only reads method, path,
    headers)."""
    count = 0
    for entry in server.transcript:
        request = Request(entry["method"], entry["path"], entry["path"], {}, entry["headers"], None)  # type: ignore[arg-type]
        count += bool(match(request))
    return count


def assert_clean(protocol: NuxeoProtocol, documents: int) -> None:
    assert len(protocol.files()) == documents
    assert protocol.batches == {}, "an upload batch was abandoned on the server"
    assert protocol.duplicate_chunks == []


# --- a 500 (or 429, 503), then success ----------------------------------------------------


def test_a_500_on_a_read_is_repeated(backend: NuxeoBackend, server: NuxeoServer):
    uid = put(backend)
    server.inject(Fault("status", reading_a_document, status=500, body=NUXEO_500))
    assert backend.stat(uid).size == len(DATA)
    assert hits(server, reading_a_document) == 2


def test_a_429_on_a_search_is_repeated(backend: NuxeoBackend, server: NuxeoServer):
    server.inject(Fault("status", searching, status=429, times=2))
    uid = put(backend)  # the never-overwrite lookup searches
    assert hits(server, searching) == 3
    assert [info.key for info in backend.iter_blobs()] == [uid]


def test_a_429_on_a_listing_is_repeated(backend: NuxeoBackend, server: NuxeoServer):
    uid = put(backend)
    fault = server.inject(Fault("status", listing, status=429, times=2))
    assert [info.key for info in backend.iter_blobs()] == [uid]
    assert fault.hits == 2


def test_a_500_on_a_chunk_resumes_the_upload(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    server.inject(Fault("status", chunk(2), status=500, body=NUXEO_500))
    uid = put(backend)
    assert read(backend, uid) == DATA
    assert [c for _, _, c in protocol.chunk_requests] == [0, 1, 2, 3]
    # The resumed uploader first asked the server what it held.
    assert hits(server, lambda r: r.method == "GET" and "/upload/" in r.path) == 2
    assert_clean(protocol, documents=1)


def test_a_503_on_opening_a_batch_is_repeated(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    server.inject(Fault("status", opening_a_batch, status=503))
    uid = put(backend)
    assert read(backend, uid) == DATA
    assert hits(server, opening_a_batch) == 2
    assert_clean(protocol, documents=1)


def test_a_500_on_the_creation_is_checked_then_repeated(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    server.inject(Fault("status", creating_the_file, status=500, body=NUXEO_500))
    uid = put(backend)
    assert read(backend, uid) == DATA
    methods = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in server.transcript]
    failed = methods.index(("POST", "No company"))
    # After the failure: did it land? Its path, then the folder's children (consistent,
    # unlike search) — nothing; then create again.
    assert methods[failed + 1 : failed + 3] == [("GET", "attachment"), ("GET", "@children")]
    assert ("POST", "No company") in methods[failed + 3 :]
    assert_clean(protocol, documents=1)


# --- refused credentials ------------------------------------------------------------------


def test_a_401_mid_upload_fails_at_once_and_deletes_the_batch(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    refusal = {"entity-type": "exception", "status": 401, "message": "Token expired"}
    server.inject(Fault("status", chunk(1), status=401, body=refusal))
    with pytest.raises(StorageAuthError, match="HTTP 401: Token expired"):
        put(backend)
    assert hits(server, chunk(1)) == 1, "an authentication failure is not repeated"
    assert hits(server, lambda r: r.method == "DELETE" and "/upload/" in r.path) == 1
    assert_clean(protocol, documents=0)


def test_a_403_on_the_creation_fails_and_leaves_nothing(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    refusal = {"status": 403, "message": "Privilege 'AddChildren' is not granted to 'grc'"}
    server.inject(Fault("status", creating_the_file, status=403, body=refusal))
    with pytest.raises(StorageAuthError, match="AddChildren"):
        put(backend)
    assert_clean(protocol, documents=0)


# --- a connection reset in the middle of a request body -----------------------------------


def test_a_reset_mid_upload_resumes_without_sending_a_chunk_twice(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    server.inject(Fault("reset", chunk(1), after_bytes=CHUNK // 4))
    uid = put(backend)
    assert read(backend, uid) == DATA
    assert hits(server, chunk(1)) == 2  # the broken request, then the resumed one
    assert [c for _, _, c in protocol.chunk_requests] == [0, 1, 2, 3]
    assert_clean(protocol, documents=1)


def test_a_reset_without_retries_is_unavailable_and_deletes_the_batch(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer, protocol: NuxeoProtocol
):
    backend = make_backend(retries=0)
    server.inject(Fault("reset", chunk(2), after_bytes=1000))
    with pytest.raises(StorageUnavailable, match="cannot reach Nuxeo"):
        put(backend)
    assert_clean(protocol, documents=0)


# --- a stall longer than the timeout --------------------------------------------------------


def test_a_stalled_creation_is_repeated_once_and_replayed_not_duplicated(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer, protocol: NuxeoProtocol
):
    backend = make_backend(timeout=0.3)
    server.inject(Fault("stall", creating_the_file, seconds=1.0))
    started = time.monotonic()
    uid = put(backend)
    assert time.monotonic() - started < 1.0, "the put did not wait for the stalled request"
    assert read(backend, uid) == DATA
    # The stalled request reaches the repository late, with the same Idempotency-Key: Nuxeo
    # replays the answer of the repetition instead of creating a second document.
    deadline = time.monotonic() + 5
    while not protocol.replayed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(protocol.replayed) == 1
    assert_clean(protocol, documents=1)


def test_reads_that_keep_stalling_are_unavailable_within_bounded_time(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer
):
    backend = make_backend(timeout=0.2, retries=1)
    uid = put(backend, b"small")
    server.inject(Fault("stall", reading_a_document, seconds=0.6, times=5))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"did not answer within 0\.2 s"):
        backend.stat(uid)
    assert time.monotonic() - started < 1.5  # two attempts of 0.2 s, not 5 stalls of 0.6 s
    assert hits(server, reading_a_document) == 2


def test_a_stalled_chunk_without_retries_leaves_nothing_once_it_lands(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer, protocol: NuxeoProtocol
):
    backend = make_backend(timeout=0.3, retries=0)
    server.inject(Fault("stall", chunk(1), seconds=0.8))
    with pytest.raises(StorageUnavailable, match=r"did not answer within 0\.3 s"):
        put(backend)
    time.sleep(1.0)  # the stalled chunk reaches the server after its batch was deleted
    assert_clean(protocol, documents=0)


def test_repeated_failures_of_the_creation_give_up_and_leave_nothing(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer, protocol: NuxeoProtocol
):
    backend = make_backend(retries=2)
    server.inject(Fault("status", creating_the_file, status=503, times=3))
    with pytest.raises(StorageUnavailable, match="HTTP 503"):
        put(backend)
    assert hits(server, creating_the_file) == 3
    assert_clean(protocol, documents=0)


def test_an_unreachable_server_is_unavailable(make_backend: Callable[..., NuxeoBackend]):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = make_backend(url=f"http://127.0.0.1:{port}/nuxeo/", retries=1)
    with pytest.raises(StorageUnavailable, match=f"cannot reach Nuxeo at http://127.0.0.1:{port}"):
        put(backend)


def test_a_url_that_is_not_a_nuxeo_server_is_a_storage_error(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer
):
    backend = make_backend(url=f"{server.url}/not-nuxeo/")
    with pytest.raises(StorageError, match="HTTP 400"):
        put(backend)
