"""Golden request transcripts: what cmislib 0.7.0 and the adapter put on the wire.

Each operation's requests — method, path, query, key headers and, for the multipart
``POST``s, the form parts in order with their values — are compared with
``golden/<operation>.json``.  A cmislib (or requests_toolbelt) upgrade that changes the
wire fails here before it fails against Alfresco.  Record again, after checking the change
is harmless, with ``GRC_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from ..protocol_server import assert_golden

GOLDEN = Path(__file__).parent / "golden"
KEY = "2026/03/" + "0123456789abcdef" * 2
METADATA = {
    "company": "Société Générale",
    "date": "2026-03-02",
    "subject": 'Relance "devis" #4',
    "filename": "Compte rendu été & 100%.pdf",
    "exchange_id": "42",
    "author": "alice",
}
_BOUNDARY = re.compile(r"boundary=[0-9a-f]{32}")


def wire(server, protocol) -> list[dict[str, Any]]:
    """The server's transcript, boundaries normalised, each POST with its form."""
    forms = iter(protocol.forms)
    entries = []
    for entry in server.transcript:
        entry = dict(entry)
        headers = dict(entry.get("headers", {}))
        if "content-type" in headers:
            headers["content-type"] = _BOUNDARY.sub("boundary=<random>", headers["content-type"])
            entry["headers"] = headers
        if entry["method"] == "POST":
            entry["form"] = next(forms)
        entries.append(entry)
    assert next(forms, None) is None, "a form without its request"
    server.transcript.clear()
    protocol.forms.clear()
    return entries


@pytest.fixture
def stored(backend, server, protocol) -> str:
    """A document stored by a first ``put`` (its wire is the ``put`` golden file)."""
    key = backend.put(KEY, io.BytesIO(b"%PDF-1.4 golden"), size=15, metadata=METADATA)
    assert_golden(wire(server, protocol), GOLDEN / "put.json")
    return key


def test_put_golden(stored, protocol):
    # The key is the version-independent id: the node id, without Alfresco's ";1.0".
    assert ";" not in stored
    assert protocol.nodes[stored].kind == "document"


def test_open_golden(backend, server, protocol, stored):
    with backend.open(stored) as stream:
        assert stream.read() == b"%PDF-1.4 golden"
    assert_golden(wire(server, protocol), GOLDEN / "open.json")


def test_stat_golden(backend, server, protocol, stored):
    assert backend.stat(stored).size == 15
    assert_golden(wire(server, protocol), GOLDEN / "stat.json")


def test_delete_golden(backend, server, protocol, stored):
    backend.delete(stored)
    assert_golden(wire(server, protocol), GOLDEN / "delete.json")
