"""Golden request transcripts: what the pinned client library sends for each operation.

A client-library upgrade that changes a path, a query option or a header shape fails here,
before it fails against a real SharePoint.  Record again (after reviewing the change!) with
``GRC_UPDATE_GOLDEN=1 pytest tests/adapters/sharepoint/test_golden.py``.

GUIDs (document ids from the server, upload-session ids from the backend) are replaced by
``<guid-N>`` in order of appearance, so the transcripts do not depend on random ids.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.adapters.protocol_server import assert_golden
from tests.adapters.sharepoint.conftest import TEST_CHUNK

GOLDEN = Path(__file__).parent / "golden"
KEY = "2026/03/" + "0123456789abcdef" * 2
METADATA = {
    "company": "Société & Cie",
    "date": "2026-03-02",
    "subject": "Visite #3 'annuelle'",
    "filename": "compte rendu 100%.pdf",
    "exchange_id": "7",
    "author": "alice",
}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def normalized(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0).lower(), f"<guid-{len(names) + 1}>")

    return json.loads(_GUID.sub(name, json.dumps(transcript, ensure_ascii=False)))


@pytest.fixture
def recorded(backend, server):
    """Runs each operation on a fresh transcript and returns it, normalised."""

    def record(operation) -> list[dict[str, Any]]:
        server.transcript.clear()
        operation()
        return normalized(list(server.transcript))

    return record


def test_golden_transcripts(backend, recorded):
    data = bytes(range(256)) * (2 * TEST_CHUNK // 256 + 10)  # three fragments
    stored: list[str] = []

    put = recorded(lambda: stored.append(backend.put(KEY, io.BytesIO(data), metadata=METADATA)))
    (key,) = stored

    def read() -> None:
        with backend.open(key) as stream:
            assert stream.read() == data

    opened = recorded(read)
    stat = recorded(lambda: backend.stat(key))
    listing = recorded(lambda: list(backend.iter_blobs()))
    delete = recorded(lambda: backend.delete(key))

    for name, transcript in [
        ("put", put),
        ("open", opened),
        ("stat", stat),
        ("iter_blobs", listing),
        ("delete", delete),
    ]:
        assert_golden(transcript, GOLDEN / f"{name}.json")

    # A few facts the golden files must show, so that a careless re-recording is caught.
    steps = [entry["path"].rsplit("/", 1)[-1].split("(")[0] for entry in put]
    assert steps[0] == "contextInfo"
    assert [s for s in steps if s.endswith("Upload")] == [
        "startUpload",
        "continueUpload",
        "finishUpload",
    ]
    assert all(entry["headers"]["accept"] == "application/json;odata=verbose" for entry in put)
    assert [e["headers"].get("x-http-method") for e in delete if e["method"] == "POST"] == [
        "DELETE"
    ]
    assert all(e["method"] == "GET" for e in opened + stat + listing)
