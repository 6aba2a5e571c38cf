"""Golden transcripts: what nuxeo 7.1.0 sends for each backend operation, pinned.

A client-library upgrade that changes a path, a header or a JSON body fails here before it
fails against a real server.  Record again (and review the diff) with
``GRC_UPDATE_GOLDEN=1 pytest tests/adapters/nuxeo/test_golden.py``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.testing.storage_contract import payload

from ..protocol_server import assert_golden
from .conftest import CHUNK, TOKEN
from .server import NuxeoServer

GOLDEN = Path(__file__).parent / "golden"
#: Fixed keys (the core's are random) so that the NXQL lookups are stable.
KEY_BIG = "2026/03/" + "b" * 32
KEY_SMALL = "2026/03/" + "5" * 32


def test_golden_put_chunked_then_stat_open_list_delete(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer
):
    backend = make_backend()
    hints = {
        "company": "Société Générale",
        "date": "2026-03-02",
        "subject": "Relance #2 & devis",
        "filename": 'devis "final" 100% l\'été.pdf',
        "exchange_id": "42",
        "author": "alice",
    }
    uid = backend.put(KEY_BIG, io.BytesIO(payload(2 * CHUNK + 100)), metadata=hints)
    backend.stat(uid)
    with backend.open(uid) as stream:
        stream.read()
    list(backend.iter_blobs())
    backend.delete(uid)
    assert_golden(server.transcript, GOLDEN / "basic-chunked-put-stat-open-list-delete.json")


def test_golden_put_small_with_token_then_refused_duplicate(
    make_backend: Callable[..., NuxeoBackend], server: NuxeoServer
):
    backend = make_backend(user=None, password=None, token=TOKEN)
    backend.put(KEY_SMALL, io.BytesIO(b"small file"), metadata={"filename": "note.txt"})
    with contextlib.suppress(FileExistsError):  # BlobExists: the lookup's request is pinned
        backend.put(KEY_SMALL, io.BytesIO(b"again"), metadata={"filename": "note.txt"})
    assert_golden(server.transcript, GOLDEN / "token-small-put-and-duplicate.json")
