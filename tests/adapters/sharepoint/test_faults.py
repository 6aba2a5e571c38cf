"""Injected faults: each gives its documented outcome, and no partial document remains.

=============================================  ============================================
fault                                          outcome (docs/backends/sharepoint.md)
=============================================  ============================================
500 on a read, then success                    retried: the call succeeds
500 on a folder creation, then success         retried (``Folders/Add`` is idempotent)
500 / 503 on an upload fragment                ``StorageUnavailable``; upload abandoned
401 (any request)                              ``StorageAuthError`` at once, no retry
403 on a read                                  ``StorageAuthError``
404 on a read                                  ``BlobNotFound``
409 on the placeholder ``Files/add``           the name counts as taken: next `` (n)`` name
connection reset in the middle of a fragment   ``StorageUnavailable``; upload abandoned
stall longer than the timeout                  ``StorageUnavailable`` after the retries
=============================================  ============================================

"Abandoned" means: the upload session is cancelled and the placeholder deleted, so nothing
is left on the server, and the same key can be stored again.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from tests.adapters.protocol_server import Fault, Request
from tests.adapters.sharepoint.conftest import ROOT, TEST_CHUNK

from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.testing.storage_contract import ChunkedStream, payload

KEY = "2026/03/" + "f" * 32
DATA = payload(3 * TEST_CHUNK + 1000)  # four fragments: start, continue ×2, finish


def calls(name: str, method: str | None = None) -> Callable[[Request], bool]:
    """Matches requests whose path contains ``name`` (and of ``method``, if given)."""
    return lambda r: name in r.raw_path and (method is None or r.method == method)


def reads_by_id(request: Request) -> bool:
    return request.method == "GET" and "GetFileById" in request.raw_path


def put(backend, data: bytes = DATA, key: str = KEY) -> str:
    return backend.put(key, ChunkedStream(data, max_read=16 * 1024 * 1024))


def assert_nothing_left(protocol) -> None:
    assert protocol.documents(ROOT) == {}, "a partial document remains"
    assert protocol.markers(ROOT) == {}
    assert protocol.open_sessions() == []
    assert protocol.staging_files() == []


def assert_key_reusable(backend, protocol) -> None:
    stored = put(backend)
    with backend.open(stored) as stream:
        assert stream.read() == DATA
    assert list(protocol.documents(ROOT).values()) == [len(DATA)]


def requests_to(server, name: str) -> int:
    return sum(name in entry["path"] for entry in server.transcript)


# --- 500 then success ---------------------------------------------------------------------


def test_a_500_on_a_read_is_retried(backend, server):
    key = put(backend)
    fault = server.inject(Fault("status", match=reads_by_id, status=500))
    before = len(server.transcript)
    assert backend.stat(key).size == len(DATA)
    assert fault.hits == 1
    assert len(server.transcript) - before == 2  # the failed GET and its retry


def test_a_500_on_a_folder_creation_is_retried(backend, server, protocol):
    server.inject(Fault("status", match=calls("Folders/Add"), status=500))
    key = put(backend)
    with backend.open(key) as stream:
        assert stream.read() == DATA
    assert requests_to(server, "/Folders/Add('CRM')") == 2


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_on_an_upload_fragment_abandons_the_upload(backend, server, protocol, status):
    server.inject(Fault("status", match=calls("continueUpload"), status=status))
    with pytest.raises(StorageUnavailable, match=f"HTTP {status}"):
        put(backend)
    assert requests_to(server, "continueUpload") == 1  # a fragment is never re-sent
    assert requests_to(server, "CancelUpload") == 1
    assert_nothing_left(protocol)
    assert_key_reusable(backend, protocol)


def test_retries_are_bounded(make_backend, server):
    backend = make_backend(retries=2)
    key = put(backend)
    fault = server.inject(Fault("status", match=reads_by_id, status=503, times=100))
    with pytest.raises(StorageUnavailable):
        backend.stat(key)
    assert fault.hits == 3  # the first attempt and two retries


# --- authentication ---------------------------------------------------------------------


def test_a_401_is_an_auth_error_without_retry(backend, server, protocol):
    fault = server.inject(Fault("status", status=401, times=100))
    with pytest.raises(StorageAuthError):
        put(backend)
    assert fault.hits == 1 and len(server.transcript) == 1
    assert_nothing_left(protocol)


def test_a_401_in_the_middle_of_an_upload_leaves_nothing(backend, server, protocol):
    server.inject(Fault("status", match=calls("finishUpload"), status=401))
    with pytest.raises(StorageAuthError):
        put(backend)
    assert requests_to(server, "finishUpload") == 1
    assert_nothing_left(protocol)


def test_a_refused_token_keeps_sharepoints_message_and_not_the_token(make_backend, protocol):
    secret = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.not-accepted-here"
    backend = make_backend(access_token=secret)
    with pytest.raises(StorageAuthError) as caught:
        backend.stat("00000000-0000-4000-8000-0000000000ff")
    message = str(caught.value)
    assert "Invalid issuer or signature" in message
    assert secret not in message and "eyJ0" not in message
    assert secret not in repr(backend) and secret not in repr(backend.settings)


def test_a_403_is_an_auth_error(backend, server):
    key = put(backend)
    server.inject(Fault("status", match=reads_by_id, status=403, times=100))
    with pytest.raises(StorageAuthError):
        backend.open(key)


def test_a_404_is_blob_not_found(backend, server):
    key = put(backend)
    server.inject(Fault("status", match=reads_by_id, status=404))
    with pytest.raises(BlobNotFound):
        backend.stat(key)


def test_a_409_on_the_placeholder_takes_the_next_name(backend, server, protocol):
    server.inject(Fault("status", match=calls("Files/add(overwrite=false,url='report"), status=409))
    key = backend.put(KEY, io.BytesIO(b"x"), metadata={"filename": "report.pdf"})
    (path,) = protocol.documents(ROOT)
    assert path.endswith("/report (2).pdf")
    with backend.open(key) as stream:
        assert stream.read() == b"x"


# --- the network --------------------------------------------------------------------------


def test_a_connection_reset_mid_upload_leaves_nothing(backend, server, protocol):
    fault = server.inject(
        Fault("reset", match=calls("continueUpload"), after_bytes=TEST_CHUNK // 4)
    )
    with pytest.raises(StorageUnavailable, match="connection"):
        put(backend)
    assert fault.hits == 1
    assert protocol.duplicate_chunks == []
    assert_nothing_left(protocol)
    assert_key_reusable(backend, protocol)


def test_a_connection_reset_before_a_download_is_retried(backend, server):
    key = put(backend)
    fault = server.inject(Fault("reset", match=calls("$value")))
    with backend.open(key) as stream:
        assert stream.read() == DATA
    assert fault.hits == 1


def test_a_download_cut_short_is_an_error_not_a_short_file(backend, protocol):
    key = put(backend)
    protocol.cut_downloads_after = TEST_CHUNK  # the server drops the connection mid-body
    with backend.open(key) as stream, pytest.raises(StorageUnavailable):
        while stream.read(64 * 1024):
            pass


def test_a_stall_longer_than_the_timeout_is_unavailable_quickly(make_backend, server):
    backend = make_backend(timeout=0.3, retries=1)
    key = put(backend)
    fault = server.inject(Fault("stall", match=reads_by_id, seconds=1.5, times=100))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="in time"):
        backend.stat(key)
    assert time.monotonic() - started < 1.2  # two timeouts and one short back-off
    assert fault.hits == 2


def test_a_stall_during_an_upload_abandons_it(make_backend, server, protocol):
    backend = make_backend(timeout=0.3, retries=1)
    stall = 1.0
    server.inject(Fault("stall", match=calls("continueUpload"), seconds=stall))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        put(backend)
    assert time.monotonic() - started < stall
    time.sleep(stall)  # let the stalled request reach the server: it must change nothing
    assert_nothing_left(protocol)


def test_a_failed_cleanup_is_left_to_verify(backend, server, protocol, caplog):
    # The fragment fails, and so does every delete: the placeholder cannot be removed.
    server.inject(Fault("status", match=calls("continueUpload"), status=500))
    server.inject(
        Fault(
            "status",
            match=lambda r: r.headers.get("x-http-method") == "DELETE",
            status=503,
            times=100,
        )
    )
    with pytest.raises(StorageError):
        put(backend)
    assert "grc storage verify --repair" in caplog.text
    # What is left is an ordinary (empty) document: iter_blobs lists it, so verify finds it.
    (orphan,) = backend.iter_blobs()
    assert orphan.size == 0


def test_a_409_elsewhere_is_a_plain_storage_error(backend, server):
    key = put(backend)
    server.inject(Fault("status", match=reads_by_id, status=409))
    with pytest.raises(StorageError) as caught:
        backend.stat(key)
    assert type(caught.value) is StorageError


# --- the key index under concurrency and lost answers ------------------------------------------


def test_a_concurrent_put_of_the_same_key_wins_cleanly(backend, server, protocol):
    from grc_adapters.sharepoint.backend import INDEX_FOLDER, marker_name

    other = backend.put("2026/03/" + "9" * 32, io.BytesIO(b"the other upload"))

    def other_commits_first(request: Request) -> bool:
        # Another process commits KEY between our upload and our own commit.
        if "_grc-keys')/Files/add" in request.raw_path and not protocol.markers(ROOT).get(
            marker_name(KEY)
        ):
            protocol.add_file(f"{ROOT}/{INDEX_FOLDER}", marker_name(KEY), other.encode())
        return False

    server.inject(Fault("status", match=other_commits_first, times=10**9))
    with pytest.raises(BlobExists):
        put(backend)
    assert list(protocol.documents(ROOT).values()) == [len(b"the other upload")]
    assert protocol.markers(ROOT)[marker_name(KEY)] == other
    assert protocol.open_sessions() == [] and protocol.staging_files() == []


def test_a_lost_answer_to_the_commit_is_checked_not_guessed(backend, server, protocol):
    from grc_adapters.sharepoint.backend import marker_name

    fault = server.inject(Fault("reset", match=calls("_grc-keys')/Files/add")))
    key = put(backend)
    assert fault.hits == 1
    assert protocol.markers(ROOT) == {marker_name(KEY): key}
    with backend.open(KEY) as stream:
        assert stream.read() == DATA
