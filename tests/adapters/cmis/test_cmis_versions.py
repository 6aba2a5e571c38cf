"""Versioned documents: someone checks a new version in (1.0 → 1.1 → 2.0) in the GED.

The key ``put`` returned is the version series id (Alfresco's node id), which names the
latest version: it keeps working after a check-in — ``stat`` and ``open`` see the new
version, ``iter_blobs`` lists the document once under the same key, ``delete`` removes every
version and frees the core key — while the version id of 1.0 still reads the old content.
"""

from __future__ import annotations

from datetime import timedelta

from grc_core.storage.keys import new_key
from grc_core.testing.storage_contract import ChunkedStream

from .server import CmisProtocol, stored_files

MiB = 1024 * 1024


def read(backend, key: str) -> bytes:
    with backend.open(key) as stream:
        return stream.read()


def test_the_key_follows_the_latest_version(backend, protocol: CmisProtocol):
    core_key = new_key()
    key = backend.put(core_key, ChunkedStream(b"version one", max_read=MiB),
                      metadata={"company": "ACME", "filename": "devis.txt"})  # fmt: skip
    node = protocol.nodes[key]
    assert node.version == "1.0" and ";" not in key, "the series id is the key"
    before = backend.stat(key)
    path = protocol.path_of(node)

    protocol.check_in(path, b"version one, revised")
    assert protocol.nodes[key].version == "1.1"
    info = backend.stat(key)
    assert info.key == key
    assert info.size == len(b"version one, revised")
    assert info.modified >= before.modified - timedelta(seconds=1)
    assert read(backend, key) == b"version one, revised"
    assert read(backend, f"{key};1.0") == b"version one"  # the old version is still there

    protocol.check_in(path, b"two", major=True)
    assert protocol.nodes[key].version == "2.0"
    assert [(i.key, i.size) for i in backend.iter_blobs()] == [(key, 3)]

    backend.delete(key)
    assert list(backend.iter_blobs()) == []
    assert stored_files(protocol) == [], "every version's content went with the document"
    # The core key is free again.
    again = backend.put(core_key, ChunkedStream(b"new", max_read=MiB))
    assert read(backend, again) == b"new"


def test_an_old_version_id_is_not_listed_nor_the_key(backend, protocol: CmisProtocol):
    key = backend.put(new_key(), ChunkedStream(b"1", max_read=MiB))
    protocol.check_in(protocol.path_of(protocol.nodes[key]), b"22")
    listed = [i.key for i in backend.iter_blobs()]
    assert listed == [key]
    assert backend.stat(f"{key};1.0").size == 1
