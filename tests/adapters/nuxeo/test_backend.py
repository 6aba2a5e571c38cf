"""What the Nuxeo backend does on the wire and in the repository, beyond the contract."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from typing import Any

import pytest

from grc_adapters.nuxeo import _client
from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.errors import BlobExists, BlobNotFound, StorageAuthError, StorageError
from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream, payload

from .conftest import BEARER, CHUNK, PASSWORD, ROOT, TOKEN, USER
from .server import NuxeoProtocol, NuxeoServer

MiB = 1024 * 1024


def put(backend: NuxeoBackend, data: bytes, key: str | None = None, **metadata: str) -> str:
    return backend.put(key or new_key(), ChunkedStream(data, max_read=16 * MiB), metadata=metadata)


def read(backend: NuxeoBackend, key: str) -> bytes:
    with backend.open(key) as stream:
        return b"".join(iter(lambda: stream.read(65536), b""))


def requests_to(server: NuxeoServer, method: str, fragment: str) -> list[dict[str, Any]]:
    return [e for e in server.transcript if e["method"] == method and fragment in e["path"]]


# --- the 308 double-send ------------------------------------------------------------------


def test_without_the_workaround_nuxeo_7_1_0_sends_incomplete_chunks_twice(
    server: NuxeoServer, protocol: NuxeoProtocol, tmp_path
):
    """The bug is real against a server that answers 308 like Nuxeo: the test server is."""
    _client.load()
    from nuxeo.client import Nuxeo
    from nuxeo.models import FileBlob

    source = tmp_path / "three-chunks.bin"
    source.write_bytes(payload(2 * CHUNK + 10))
    nx = Nuxeo(host=server.nuxeo_url, auth=(USER, PASSWORD))
    try:
        batch = nx.uploads.batch()
        nx.uploads.upload(batch, FileBlob(str(source)), chunked=True, chunk_size=CHUNK)
    finally:
        nx.client._session.close()
        atexit.unregister(nx.client.on_exit)
    b = batch.batchId
    assert protocol.chunk_requests == [(b, 0, 0), (b, 0, 0), (b, 0, 1), (b, 0, 1), (b, 0, 2)]
    assert protocol.duplicate_chunks == [(b, 0, 0), (b, 0, 1)]


def test_the_backend_sends_each_chunk_once(
    backend: NuxeoBackend, protocol: NuxeoProtocol, server: NuxeoServer
):
    data = payload(5 * CHUNK + 3)
    uid = put(backend, data, filename="big.bin")
    assert read(backend, uid) == data
    assert [c for _, _, c in protocol.chunk_requests] == [0, 1, 2, 3, 4, 5]
    assert protocol.duplicate_chunks == []
    chunk_posts = [
        e for e in requests_to(server, "POST", "/upload/") if "x-upload-type" in e["headers"]
    ]
    assert [e["headers"]["x-upload-chunk-count"] for e in chunk_posts] == ["6"] * 6
    assert protocol.batches == {}, "the batch is consumed by the document creation"


def test_a_file_up_to_one_chunk_goes_in_a_single_request(
    backend: NuxeoBackend, protocol: NuxeoProtocol, server: NuxeoServer
):
    uid = put(backend, payload(CHUNK), filename="exact.bin")
    assert read(backend, uid) == payload(CHUNK)
    uploads = requests_to(server, "POST", "/upload/")
    assert len(uploads) == 1 and "x-upload-type" not in uploads[0]["headers"]
    assert protocol.chunk_requests == []


# --- layout and metadata ----------------------------------------------------------------


def test_documents_are_filed_by_company_and_exchange_with_titles_and_metadata(
    backend: NuxeoBackend, protocol: NuxeoProtocol
):
    key = new_key()
    hints = {
        "company": "Société Générale",
        "date": "2026-03-02",
        "subject": "Échéance / relance",
        "filename": "Compte rendu.pdf",
        "exchange_id": "42",
        "author": "alice",
    }
    uid = put(backend, b"%PDF-1.4 ...", key, **hints)
    doc = protocol.docs[uid]
    folder = f"{ROOT}/Société Générale/2026-03-02 — Échéance - relance"
    assert doc.path == f"{folder}/Compte rendu.pdf"
    assert doc.type == "File"
    assert protocol.doc_at(folder).properties["dc:title"] == "2026-03-02 — Échéance / relance"
    assert protocol.doc_at(f"{ROOT}/Société Générale").properties["dc:title"] == "Société Générale"
    assert doc.properties["dc:title"] == "Compte rendu.pdf"
    assert doc.properties["dc:description"] == "Échéance / relance\nGRC exchange 42, added by alice"
    assert doc.properties["dc:source"] == f"grc:{key}"
    assert (doc.blob.name, doc.blob.mime_type) == ("Compte rendu.pdf", "application/pdf")

    again = put(backend, b"second", **hints)
    assert protocol.docs[again].path == f"{folder}/Compte rendu (2).pdf", "never overwritten"
    assert protocol.docs[again].parent == doc.parent, "the exchange folder is reused"


def test_titles_that_clean_up_to_the_same_name_get_their_own_folders(
    backend: NuxeoBackend, protocol: NuxeoProtocol
):
    first = put(backend, b"1", company="ACME/Paris", filename="a.txt")
    second = put(backend, b"2", company="ACME-Paris", filename="a.txt")
    third = put(backend, b"3", company="ACME/Paris", filename="b.txt")
    assert protocol.docs[first].path == f"{ROOT}/ACME-Paris/a.txt"
    assert protocol.docs[second].path == f"{ROOT}/ACME-Paris (2)/a.txt"
    assert protocol.docs[third].path == f"{ROOT}/ACME-Paris/b.txt"


def test_missing_hints_have_fallbacks(backend: NuxeoBackend, protocol: NuxeoProtocol):
    uid = put(backend, b"no hints", date="not a date")
    assert protocol.docs[uid].path == f"{ROOT}/No company/attachment"
    assert protocol.docs[uid].properties["dc:description"] == ""


@pytest.mark.parametrize(
    "filename",
    [
        'devis "final" l\'été.pdf',
        "n°#12 & co.txt",
        "100% sûr.docx",
        "C++ notes + plan?.csv",
        "Ünïcødé ñ 日本 résumé.odt",
        "a;b=c,d[1]{2}~!@$^.txt",
    ],
)
def test_file_names_with_quotes_hash_percent_ampersand_spaces_and_accents_round_trip(
    backend: NuxeoBackend, protocol: NuxeoProtocol, filename: str
):
    data = payload(CHUNK + 1, seed=len(filename))  # the chunked path, X-File-Name on each chunk
    uid = put(
        backend, data, company="L'Oréal & Fils #1", subject="50% d'acompte", filename=filename
    )
    doc = protocol.docs[uid]
    assert doc.properties["dc:title"] == filename
    assert doc.blob.name == filename, "X-File-Name is encoded by the client, decoded by Nuxeo"
    assert read(backend, uid) == data
    # The sanitised path is addressable through the REST API (the adapter encodes it).
    assert backend._doc_at(doc.path)["uid"] == uid
    assert protocol.doc_at(doc.path.rsplit("/", 2)[0]).properties["dc:title"] == "L'Oréal & Fils #1"


# --- keys ---------------------------------------------------------------------------------


def test_a_used_core_key_is_refused_before_anything_is_uploaded(
    backend: NuxeoBackend, server: NuxeoServer, protocol: NuxeoProtocol
):
    key = new_key()
    uid = put(backend, b"original", key)
    before = len(server.transcript)
    with pytest.raises(BlobExists) as caught:
        put(backend, payload(3 * CHUNK), key)
    assert caught.value.key == uid
    # Reads only (the folder, its children): nothing uploaded, nothing created.
    assert {e["method"] for e in server.transcript[before:]} == {"GET"}, "lookups, no upload"
    assert read(backend, uid) == b"original"
    assert len(protocol.files()) == 1


def test_a_folder_is_never_a_blob(backend: NuxeoBackend, protocol: NuxeoProtocol):
    uid = put(backend, b"x", company="ACME")
    folder = protocol.docs[protocol.docs[uid].parent]
    for operation in (backend.stat, backend.open, backend.delete):
        with pytest.raises(BlobNotFound):
            operation(folder.uid)
    assert protocol.docs[uid].parent in protocol.docs, "the folder was not deleted"


@pytest.mark.parametrize("key", ["2026/03/" + "0" * 32, "../etc", "a b", "x" * 65, ""])
def test_keys_that_are_not_document_uids_are_not_found(backend: NuxeoBackend, key: str):
    with pytest.raises(BlobNotFound, match="document uids"):
        backend.stat(key)


def test_iter_blobs_pages_and_skips_documents_grc_did_not_store(
    backend: NuxeoBackend, protocol: NuxeoProtocol, server: NuxeoServer
):
    uids = {put(backend, payload(10 + n), company="ACME") for n in range(5)}
    folder = protocol.doc_at(f"{ROOT}/ACME")
    protocol._add(folder, "by-hand.txt", "File", {"dc:title": "by hand"})  # no grc: source
    backend.page_size = 2
    listed = {info.key: info for info in backend.iter_blobs()}
    assert set(listed) == uids
    assert {info.size for info in listed.values()} == {10, 11, 12, 13, 14}
    # The walk reads the folders' children (never search, which lags): root, company, pages.
    pages = [e["query"]["currentPageIndex"] for e in requests_to(server, "GET", "/@children")]
    assert pages[-3:] == ["0", "1", "2"]


def test_a_corrupted_upload_is_detected_and_removed(
    backend: NuxeoBackend, protocol: NuxeoProtocol, monkeypatch: pytest.MonkeyPatch
):
    take = protocol._take_blob

    def corrupting(reference: Any) -> Any:
        blob = take(reference)
        blob.md5 = "0" * 32
        return blob

    monkeypatch.setattr(protocol, "_take_blob", corrupting)
    with pytest.raises(StorageError, match="MD5 digest"):
        put(backend, b"data")
    assert protocol.files() == []


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "header", "shown"),
    [
        ({}, "authorization", "Basic ***"),
        ({"user": None, "password": None, "token": TOKEN}, "x-authentication-token", "***"),
        ({"user": None, "password": None, "bearer_token": BEARER}, "authorization", "Bearer ***"),
    ],
    ids=["basic", "token", "bearer"],
)
def test_basic_token_and_bearer_authentication(
    make_backend: Callable[..., NuxeoBackend],
    server: NuxeoServer,
    auth: dict[str, str | None],
    header: str,
    shown: str,
):
    backend = make_backend(**auth)
    uid = put(backend, b"authenticated")
    assert read(backend, uid) == b"authenticated"
    assert {e["headers"][header] for e in server.transcript} == {shown}


@pytest.mark.parametrize(
    "auth",
    [{"password": "wrong-pa55"}, {"user": None, "password": None, "token": "stolen-token"}],
    ids=["password", "token"],
)
def test_refused_credentials_are_an_auth_error_that_never_shows_them(
    make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol, auth: dict[str, Any]
):
    backend = make_backend(**auth)
    with pytest.raises(StorageAuthError, match="HTTP 401") as caught:
        put(backend, b"x")
    for secret in ("wrong-pa55", "stolen-token", PASSWORD):
        assert secret not in str(caught.value)
        assert secret not in repr(backend)
    assert protocol.files() == [] and protocol.batches == {}


def test_no_secret_reaches_the_logs_even_at_debug_level(
    make_backend: Callable[..., NuxeoBackend], caplog: pytest.LogCaptureFixture
):
    import base64

    caplog.set_level(logging.DEBUG)
    for auth in ({}, {"user": None, "password": None, "token": TOKEN}):
        backend = make_backend(**auth)
        uid = put(backend, payload(2 * CHUNK), company="ACME", filename="log.bin")
        read(backend, uid)
        backend.delete(uid)
    assert "Calling POST" in caplog.text, "the client's debug log was captured"
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, TOKEN, basic):
        assert secret not in caplog.text


def test_a_folder_deleted_behind_the_backend_is_a_storage_error_not_a_missing_blob(
    backend: NuxeoBackend, protocol: NuxeoProtocol, monkeypatch: pytest.MonkeyPatch
):
    put(backend, b"first", company="ACME")
    folder = protocol.doc_at(f"{ROOT}/ACME")
    doc_at = backend._doc_at
    # Someone deletes the company folder between the backend's check and its creation.
    monkeypatch.setattr(
        backend,
        "_doc_at",
        lambda path: (
            (protocol._delete(None, folder.uid), doc_at(path))[1]
            if path.endswith("/ACME/attachment")
            else doc_at(path)
        ),
    )
    with pytest.raises(StorageError, match="a folder or the upload batch is missing") as caught:
        put(backend, b"second", company="ACME")
    assert not isinstance(caught.value, BlobNotFound)
    assert protocol.batches == {}


def test_configured_from_a_file_and_the_environment_via_the_entry_point(
    server: NuxeoServer, protocol: NuxeoProtocol, tmp_path
):
    from importlib.metadata import entry_points

    from grc_core.backends import Backends
    from grc_core.config import load_settings
    from grc_core.plugins import Registry

    config = tmp_path / "grc.toml"
    config.write_text(
        f'[grc]\nstorage_backend = "nuxeo"\n\n[grc.storage.nuxeo]\nurl = "{server.nuxeo_url}"\n'
        f'user = "{USER}"\nroot_path = "/default-domain/workspaces/Ventes"\nchunk_size = {CHUNK}\n'
    )
    environ = {"GRC_STORAGE__NUXEO__PASSWORD": PASSWORD, "GRC_STORAGE__NUXEO__RETRIES": "1"}
    settings = load_settings(config, environ=environ)
    (entry_point,) = [e for e in entry_points(group="grc") if e.name == "nuxeo"]
    # Only this plugin: the test must not depend on the other adapters being importable.
    registry = Registry.load(autoload=False, plugins=[entry_point.load()])
    backends = Backends.from_settings(registry, settings)
    try:
        uid = put(backends.default, payload(2 * CHUNK), company="ACME")
        assert protocol.docs[uid].path.startswith("/default-domain/workspaces/Ventes/ACME/")
        assert backends.default.settings.retries == 1
    finally:
        backends.close()
