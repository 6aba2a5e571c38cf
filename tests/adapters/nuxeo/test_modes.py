"""The Nuxeo backend against the server modes that model real deployments.

- ``lag``: NXQL search served by Elasticsearch, seconds behind the repository;
- ``10.10``: ``Idempotency-Key`` ignored and taken names renamed ``name.<ms>``, with lag;
- ``subtypes``: the default subtype rules enforced (no ``Folder`` in a ``WorkspaceRoot``);
- ``real``: all of the above at once.

Every mode passes the shipped storage contract; then the behaviours each mode exists for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.errors import BlobExists, StorageError, StorageUnavailable
from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream, StorageBackendContract, payload

from ..protocol_server import Fault, Request
from .conftest import BEARER, PASSWORD, ROOT, TOKEN, USER
from .server import NuxeoProtocol, NuxeoServer

MiB = 1024 * 1024
FILE_FOLDER = f"{ROOT}/No company"

MODES: dict[str, dict[str, Any]] = {
    "lag": {"index_lag": 2.0},
    "10.10": {"index_lag": 2.0, "idempotency": False, "rename_clashes": True},
    "subtypes": {"subtypes": True},
    "real": {"index_lag": 2.0, "idempotency": False, "rename_clashes": True, "subtypes": True},
}


def make_protocol(directory: Path, **mode: Any) -> NuxeoProtocol:
    return NuxeoProtocol(
        directory, users={USER: PASSWORD}, tokens={TOKEN}, bearer_tokens={BEARER}, **mode
    )


@pytest.fixture(params=sorted(MODES))
def protocol(request: pytest.FixtureRequest, tmp_path: Path) -> NuxeoProtocol:
    """Overrides conftest's: every test of this module runs in every mode."""
    return make_protocol(tmp_path / "nuxeo-server", **MODES[request.param])


def put(backend: NuxeoBackend, data: bytes, key: str | None = None, **metadata: str) -> str:
    return backend.put(key or new_key(), ChunkedStream(data, max_read=16 * MiB), metadata=metadata)


def read(backend: NuxeoBackend, key: str) -> bytes:
    with backend.open(key) as stream:
        return b"".join(iter(lambda: stream.read(65536), b""))


def creating_the_file(r: Request) -> bool:
    return r.method == "POST" and r.path.endswith(FILE_FOLDER)


def searched_keys(protocol: NuxeoProtocol) -> set[str]:
    """What search sees now (it lags in the lag modes)."""
    return {d.uid for d in protocol.indexed() if d.type == "File"}


class TestNuxeoContractInEveryMode(StorageBackendContract):
    @pytest.fixture
    def backend(
        self, make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol
    ) -> Iterator[NuxeoBackend]:
        backend = make_backend()
        yield backend
        assert protocol.duplicate_chunks == []
        assert protocol.batches == {}
        # Never two documents for one key, whatever the mode.
        sources = [d.properties["dc:source"] for d in protocol.files()]
        assert len(sources) == len(set(sources))


def test_writes_are_seen_at_once_although_search_lags(
    backend: NuxeoBackend, protocol: NuxeoProtocol
):
    key = new_key()
    uid = put(backend, b"fresh", key)
    if protocol.index_lag:
        assert uid not in searched_keys(protocol), "the lag mode must hide fresh writes"
    with pytest.raises(BlobExists) as caught:  # refused although search does not see it
        put(backend, b"again", key)
    assert caught.value.key == uid
    assert [info.key for info in backend.iter_blobs()] == [uid]
    backend.delete(uid)
    assert list(backend.iter_blobs()) == []  # although search still lists it
    assert len(protocol.files()) == 0


def test_a_create_that_times_out_under_a_3_s_lag_then_retried_makes_one_document(
    tmp_path: Path,
) -> None:
    """Nuxeo 10.10 (no idempotency, clash renaming) behind a 3 s index lag: the creation is
    committed but answered after the client's timeout; the adapter finds it by its path and
    the folder's children before repeating it."""
    protocol = make_protocol(
        tmp_path / "nx", index_lag=3.0, idempotency=False, rename_clashes=True, subtypes=True
    )
    from grc_adapters.nuxeo.plugin import make_nuxeo_backend

    from .conftest import settings_for

    with NuxeoServer(protocol) as server:
        backend = make_nuxeo_backend(settings_for(server, timeout=1.0, retries=3))
        try:
            fault = server.inject(Fault("slow", creating_the_file, seconds=2.5))
            key = new_key()
            data = payload(300 * 1024)
            uid = put(backend, data, key)
            assert fault.hits == 1
            assert read(backend, uid) == data
            assert searched_keys(protocol) == set(), "search had not caught up: not what was used"
            time.sleep(1.6)  # the late answer of the first attempt is written and dropped
            files = protocol.files()
            assert [d.uid for d in files] == [uid]
            assert files[0].properties["dc:source"] == f"grc:{key}"
            assert protocol.renamed == []
            assert protocol.batches == {}
        finally:
            backend.close()


def test_a_create_that_lands_but_fails_is_cleaned_up_without_search(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer, protocol: NuxeoProtocol
):
    backend = make_backend(timeout=0.3, retries=0)
    server.inject(Fault("slow", creating_the_file, seconds=0.8))
    with pytest.raises(StorageUnavailable):
        put(backend, b"half")
    time.sleep(0.6)
    assert protocol.files() == []
    assert protocol.batches == {}


def test_a_name_taken_meanwhile(
    backend: NuxeoBackend, protocol: NuxeoProtocol, monkeypatch: pytest.MonkeyPatch
):
    """Someone else creates the same name between the adapter's check and its creation:
    real Nuxeo renames ours ``name.<ms>``; a server that answers 409 makes it pick the next
    name.  Either way the blob is stored once and read back."""
    put(backend, b"first")  # the folders exist now
    create = protocol._create

    def racing(request: Request, parent_path: str) -> Any:
        parent = protocol.doc_at(parent_path)
        if parent is not None and f"{parent_path}/report.pdf" not in protocol.paths:
            protocol._add(parent, "report.pdf", "File", {"dc:title": "by someone else"})
        return create(request, parent_path)

    monkeypatch.setattr(protocol, "_create", racing)
    uid = put(backend, b"mine", filename="report.pdf")
    assert read(backend, uid) == b"mine"
    ours = next(d for d in protocol.files() if d.uid == uid)
    if protocol.rename_clashes:
        assert ours.name.startswith("report.pdf.") and ours.name[len("report.pdf.") :].isdigit()
    else:
        assert ours.name == "report (2).pdf"


def test_a_folder_created_meanwhile_is_shared_not_duplicated(
    backend: NuxeoBackend, protocol: NuxeoProtocol, monkeypatch: pytest.MonkeyPatch
):
    put(backend, b"first")  # the root exists now
    create = protocol._create
    root = protocol.doc_at(ROOT)

    def racing(request: Request, parent_path: str) -> Any:
        if parent_path == ROOT and protocol.doc_at(f"{ROOT}/ACME") is None:
            protocol._add(root, "ACME", "Folder", {"dc:title": "ACME"})
        return create(request, parent_path)

    monkeypatch.setattr(protocol, "_create", racing)
    uid = put(backend, b"acme", company="ACME")
    companies = [d.name for d in protocol.children(root)]
    assert sorted(companies) == ["ACME", "No company"]
    assert protocol.doc_at(f"{ROOT}/ACME") is not None
    assert [d.uid for d in protocol.children(protocol.doc_at(f"{ROOT}/ACME"))] == [uid]


def test_the_default_root_is_a_workspace(backend: NuxeoBackend, protocol: NuxeoProtocol):
    put(backend, b"x")
    assert protocol.doc_at(ROOT).type == "Workspace"
    assert protocol.doc_at(f"{ROOT}/No company").type == "Folder"


def test_a_root_the_subtype_rules_refuse_is_reported_clearly(
    make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol
):
    backend = make_backend(root_path="/default-domain/CRM")
    if not protocol.subtypes:
        put(backend, b"allowed where rules are not enforced")
        return
    with pytest.raises(StorageError, match=r"allowed subtypes.*root_path"):
        put(backend, b"x")
    assert protocol.doc_at("/default-domain/CRM") is None
    assert protocol.batches == {}
