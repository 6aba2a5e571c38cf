"""Injected faults give their documented outcome, and no partial document is left behind.

| fault                                  | outcome                                            |
| -------------------------------------- | -------------------------------------------------- |
| 500 then success on a GET              | retried with back-off: the call succeeds           |
| 500 then success on the upload         | seekable stream: checked, retried, succeeds;       |
|                                        | one-shot stream: StorageUnavailable, nothing left, |
|                                        | the same put then succeeds                         |
| 401 / 403                              | StorageAuthError with the server's message          |
| 404                                    | BlobNotFound                                       |
| 409 on the key's index entry           | BlobExists, the uploaded document removed          |
| 429 / 503 on GETs, every time          | StorageUnavailable once the retries are spent      |
| connection reset mid-upload            | StorageUnavailable, nothing left, key free again   |
| stall longer than the timeout (GET)    | StorageUnavailable after (retries + 1) timeouts    |
| stall longer than the timeout (upload) | StorageUnavailable at once; the server may finish  |
|                                        | the create later: that document is complete, not   |
|                                        | indexed (the key stays free), and listed by        |
|                                        | iter_blobs, so ``grc storage verify --repair``     |
|                                        | removes it as an orphan                            |
| stream shorter/longer than ``size``    | StorageError, request aborted, nothing left        |
"""

from __future__ import annotations

import io
import time

import pytest

from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.testing.storage_contract import ChunkedStream, payload

from ..protocol_server import Fault
from .conftest import PASSWORD

MiB = 1024 * 1024
KEY = "2026/03/" + "f" * 32
META = {"company": "ACME", "date": "2026-03-02", "subject": "Visite", "filename": "cr.pdf"}


def is_upload(request) -> bool:
    """A createDocument carrying content: the only POST bigger than a few KiB here."""
    return request.method == "POST" and int(request.headers.get("content-length", 0)) > 20_000


def is_get(request) -> bool:
    return request.method == "GET"


def alfresco(status: int, exception: str, message: str, match, times: int = 1) -> Fault:
    """A status fault with an Alfresco (OpenCMIS) error body."""
    body = {"exception": exception, "message": message}
    return Fault("status", match=match, status=status, times=times, body=body)


def content_documents(protocol) -> list:
    """Documents with content (the index entries have none)."""
    return [d for d in protocol.documents() if d.content is not None]


def index_entries(protocol) -> list:
    return [d for d in protocol.documents() if d.content is None]


def assert_nothing_left(protocol, backend) -> None:
    assert content_documents(protocol) == []
    assert index_entries(protocol) == []
    assert list(backend.iter_blobs()) == []
    assert list(protocol.store.glob("upload-*")) == []  # no half-received file either


# --- 500 then success -------------------------------------------------------------------------


def test_a_500_on_a_read_is_retried(backend, server):
    key = backend.put(KEY, io.BytesIO(b"hello"), size=5, metadata=META)
    fault = server.inject(Fault("status", match=is_get, status=500, times=1))
    assert backend.stat(key).size == 5
    assert fault.hits == 1


def test_a_500_on_the_upload_of_a_seekable_stream_is_checked_then_retried(
    backend, server, protocol
):
    data = payload(64 * 1024)
    fault = server.inject(Fault("status", match=is_upload, status=500, times=1))
    key = backend.put(KEY, io.BytesIO(data), size=len(data), metadata=META)
    # Sent twice: refused once (the fault answers before the protocol parses), then stored.
    assert fault.hits == 1 and protocol.content_uploads == 1
    assert [d.node_id for d in content_documents(protocol)] == [key]
    with backend.open(key) as stream:
        assert stream.read() == data
    # Between the two attempts the adapter looked for a leftover of the first.
    paths = [e["path"] for e in server.transcript]
    looked = [p for p in paths if p.endswith("/ACME/2026-03-02 — Visite/cr.pdf")]
    assert len(looked) == 2  # name check, then the post-failure check


def test_a_500_on_the_upload_of_a_one_shot_stream_is_reported_and_leaves_nothing(
    backend, server, protocol
):
    data = payload(64 * 1024)
    fault = server.inject(alfresco(500, "runtime", "Disk quota exceeded", is_upload))
    with pytest.raises(StorageUnavailable, match="Disk quota exceeded"):
        backend.put(KEY, ChunkedStream(data, max_read=16 * MiB), size=len(data), metadata=META)
    # Never re-sent: the stream cannot be rewound.
    assert fault.hits == 1 and protocol.content_uploads == 0
    assert_nothing_left(protocol, backend)
    # "…then success": the caller's retry of the same put goes through.
    key = backend.put(KEY, ChunkedStream(data, max_read=16 * MiB), size=len(data), metadata=META)
    assert backend.stat(key).size == len(data)


def test_503s_on_the_upload_are_retried_a_bounded_number_of_times(backend, server, protocol):
    fault = server.inject(Fault("status", match=is_upload, status=503, times=10))
    with pytest.raises(StorageUnavailable, match="HTTP 503"):
        backend.put(KEY, io.BytesIO(payload(30_000)), size=30_000, metadata=META)
    assert fault.hits == 3  # one try and retries=2
    assert_nothing_left(protocol, backend)


# --- authentication and permissions ----------------------------------------------------------


def test_wrong_credentials_raise_storage_auth_error_without_the_password(make_backend, protocol):
    backend = make_backend(password="not-the-password")
    with pytest.raises(StorageAuthError) as caught:
        backend.put(KEY, io.BytesIO(b"x"), size=1)
    message = str(caught.value)
    assert "HTTP 401" in message and "grc-service" in message
    assert "not-the-password" not in message and PASSWORD not in message
    assert isinstance(caught.value, PermissionError)


def test_a_401_mid_put_raises_and_leaves_nothing(backend, server, protocol):
    backend.put("2026/03/" + "0" * 32, io.BytesIO(b"warm"), size=4, metadata=META)
    before = {d.node_id for d in protocol.documents()}
    server.inject(alfresco(401, "unauthorized", "Ticket expired", is_upload))
    with pytest.raises(StorageAuthError, match="Ticket expired"):
        backend.put(KEY, io.BytesIO(payload(30_000)), size=30_000, metadata=META)
    assert {d.node_id for d in protocol.documents()} == before


def test_a_403_is_a_storage_auth_error(backend, server):
    key = backend.put(KEY, io.BytesIO(b"x"), size=1)
    server.inject(alfresco(403, "permissionDenied", "Access denied", is_get))
    with pytest.raises(StorageAuthError, match=r"Access denied.*permission"):
        backend.stat(key)


def test_a_404_is_blob_not_found_with_the_servers_message(backend):
    with pytest.raises(BlobNotFound, match=r"Object not found: 1234;1\.0"):
        backend.stat("1234;1.0")


def test_a_concurrent_put_of_the_same_key_loses_cleanly(backend, server, protocol):
    """Two puts of one key race past the early check: the server's name uniqueness on the
    index entry decides; the loser removes its document and raises BlobExists."""
    index = "/Sites/crm/documentLibrary/CRM/_grc-index/2026/03"

    def race(request):  # while our upload starts, another process claims the same key
        if is_upload(request) and not index_entries(protocol):
            protocol.plant(index, KEY.rsplit("/", 1)[1], description="other-doc", content=None)
        return False

    server.inject(Fault("status", match=race))
    with pytest.raises(BlobExists, match="concurrently"):
        backend.put(KEY, io.BytesIO(payload(30_000)), size=30_000, metadata=META)
    assert content_documents(protocol) == []  # ours was removed
    assert [d.description for d in index_entries(protocol)] == ["other-doc"]  # theirs kept


@pytest.mark.parametrize("status", [429, 503])
def test_busy_reads_are_retried_then_reported_unavailable(backend, server, status):
    key = backend.put(KEY, io.BytesIO(b"x"), size=1)
    fault = server.inject(Fault("status", match=is_get, status=status, times=100))
    with pytest.raises(StorageUnavailable, match=f"HTTP {status}"):
        backend.stat(key)
    assert fault.hits == 3  # one try and retries=2


# --- a connection reset mid-upload -----------------------------------------------------------


def test_a_connection_reset_mid_upload_leaves_nothing(backend, server, protocol):
    data = payload(4 * MiB)
    server.inject(Fault("reset", match=is_upload, after_bytes=MiB))
    with pytest.raises(StorageUnavailable, match="connection"):
        backend.put(KEY, io.BytesIO(data), size=len(data), metadata=META)
    assert protocol.content_uploads == 0  # the server dropped it before parsing
    assert_nothing_left(protocol, backend)
    key = backend.put(KEY, io.BytesIO(data), size=len(data), metadata=META)
    with backend.open(key) as stream:
        assert stream.read() == data


# --- stalls -----------------------------------------------------------------------------------


def test_a_stalled_server_gives_storage_unavailable_quickly(make_backend, server):
    backend = make_backend(timeout=0.3, retries=1)
    key = backend.put(KEY, io.BytesIO(b"x"), size=1)
    server.inject(Fault("stall", match=is_get, seconds=3, times=10))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"did not answer within 0\.3 s"):
        backend.stat(key)
    assert time.monotonic() - started < 1.5  # two attempts of 0.3 s, not two stalls of 3 s


def test_a_stalled_upload_times_out_and_its_late_document_is_an_orphan(
    make_backend, server, protocol
):
    backend = make_backend(timeout=0.3)
    data = payload(30_000)
    server.inject(Fault("stall", match=is_upload, seconds=1.0))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="did not answer"):
        backend.put(KEY, io.BytesIO(data), size=len(data), metadata=META)
    assert time.monotonic() - started < 1.0  # a timed-out create is never repeated
    assert protocol.content_uploads == 0  # still stalled: nothing to clean up yet
    deadline = time.monotonic() + 5
    while not content_documents(protocol) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The server finished the create after the client gave up (as Alfresco would): the
    # document is complete but was never indexed, so the key is still free...
    [late] = content_documents(protocol)
    assert late.length == len(data) and index_entries(protocol) == []
    # ...and it is listed, so that `grc storage verify --repair` finds and removes it.
    assert [info.key for info in backend.iter_blobs()] == [late.node_id]
    stored = backend.put(KEY, io.BytesIO(data), size=len(data), metadata=META)
    assert protocol.nodes[stored].name == "cr (2).pdf"  # the orphan keeps its name
    backend.delete(late.node_id)
    assert [info.key for info in backend.iter_blobs()] == [stored]


# --- a stream that does not match its announced size -----------------------------------------


@pytest.mark.parametrize("actual", [10_000, 50_000], ids=["shorter", "longer"])
def test_a_stream_not_matching_its_size_is_refused_and_leaves_nothing(backend, protocol, actual):
    with pytest.raises(StorageError, match="announced"):
        backend.put(KEY, ChunkedStream(payload(actual), max_read=16 * MiB), size=30_000)
    assert_nothing_left(protocol, backend)
    with pytest.raises(BlobNotFound):
        backend.stat(KEY)
