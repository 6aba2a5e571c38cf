"""The CMIS adapter over the AtomPub binding, against the strict AtomPub server.

The ``protocol`` and ``make_backend`` fixtures are overridden so that the shipped storage
contract and the versioning tests run again, unchanged, through AtomPub: cmislib's AtomPub
client for the service document, entries, feeds and creations; the content stream PUT to the
entry's ``edit-media`` link and read from its ``atom:content src``, streamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from grc_adapters.cmis.backend import CmisBackend
from grc_adapters.cmis.plugin import make_cmis_backend
from grc_core.errors import ConfigError
from grc_core.testing.storage_contract import ChunkedStream, StorageBackendContract, payload

from .atom_server import ATOM, AtomPubProtocol
from .conftest import PASSWORD, USER, settings
from .test_cmis_versions import (  # noqa: F401  (run again here, through AtomPub)
    test_an_old_version_id_is_not_listed_nor_the_key,
    test_the_key_follows_the_latest_version,
)

MiB = 1024 * 1024


@pytest.fixture
def protocol(tmp_path) -> AtomPubProtocol:
    return AtomPubProtocol(tmp_path / "atom-store", user=USER, password=PASSWORD)


@pytest.fixture
def make_backend(server) -> Iterator[Callable[..., CmisBackend]]:
    made: list[CmisBackend] = []

    def make(**overrides: Any) -> CmisBackend:
        backend = make_cmis_backend(settings(server, url=server.url + ATOM, **overrides))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


class TestCmisAtomPubContract(StorageBackendContract):
    @pytest.fixture
    def backend(self, make_backend):
        backend = make_backend()
        assert backend.binding == "atompub"
        return backend


def test_the_content_goes_through_edit_media_streamed(make_backend, protocol, server):
    backend = make_backend()
    data = payload(3 * MiB + 5)
    key = backend.put("2026/03/" + "d" * 32, ChunkedStream(data, max_read=MiB))
    with backend.open(key) as stream:
        assert stream.read() == data
    puts = [e for e in server.transcript if e["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["path"].endswith("/atom/content")
    posts = [e for e in server.transcript if e["method"] == "POST"]
    assert all(p["path"].endswith("/atom/children") for p in posts)
    assert protocol.content_uploads == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"binding": "browser"}, "is an AtomPub address but binding = 'browser'"),
        ({"binding": "soap"}, "binding must be one of auto, browser, atompub"),
        ({"url": "https://ged/alfresco/cmisws"}, "Web Services"),
        ({"url": "https://ged/alfresco/api/-default-/public/cmis/versions/1.1/browser",
          "binding": "atompub"}, "is a Browser binding address but binding = 'atompub'"),
    ],
)  # fmt: skip
def test_binding_and_url_must_agree(server, overrides, message):
    config = settings(server, url=server.url + ATOM)
    config.update(overrides)
    with pytest.raises(ConfigError, match=message):
        make_cmis_backend(config)


@pytest.mark.parametrize(
    "path",
    ["/alfresco/cmisatom", "/fncmis/resources/Service", "/emc-cmis/resources", "/nuxeo/atom/cmis"],
)
def test_atompub_addresses_choose_atompub(path):
    backend = make_cmis_backend({"url": f"https://ged.example.com{path}", "user": "u",
                                 "password": "p"})  # fmt: skip
    assert backend.binding == "atompub"
    backend.close()


def test_an_atompub_binding_on_a_json_server_is_explained(tmp_path):
    from .conftest import serve
    from .server import BASE, CmisProtocol

    browser = CmisProtocol(tmp_path / "b", user=USER, password=PASSWORD)
    with serve(browser) as running:
        backend = make_cmis_backend(settings(running, url=running.url + BASE.replace(
            "/browser", "/custom"), binding="atompub", retries=0))  # fmt: skip
        with pytest.raises(ConfigError, match="does not answer with an AtomPub service document"):
            list(backend.iter_blobs())
        backend.close()


# --- failures and the wire ------------------------------------------------------------------


def test_a_refused_content_stream_leaves_no_document(make_backend, protocol, server):
    from ..protocol_server import Fault

    backend = make_backend(retries=0)
    server.inject(Fault("status", lambda r: r.method == "PUT", status=500, body={"e": "x"}))
    with pytest.raises(Exception, match="HTTP 500"):
        backend.put("2026/03/" + "e" * 32, ChunkedStream(b"lost", max_read=MiB))
    assert list(backend.iter_blobs()) == []
    documents = [n for n in protocol.documents() if n.name != "_grc-index"]
    assert [n.name for n in documents] == [], "the entry created first was removed"


def test_golden_atompub_put_stat_open_list_delete(make_backend, server):
    from pathlib import Path

    from ..protocol_server import assert_golden

    backend = make_backend()
    key = backend.put("2026/03/" + "0123456789abcdef" * 2, ChunkedStream(b"golden", max_read=MiB),
                      metadata={"company": "ACME", "filename": "note.txt"})  # fmt: skip
    backend.stat(key)
    with backend.open(key) as stream:
        assert stream.read() == b"golden"
    assert [i.key for i in backend.iter_blobs()] == [key]
    backend.delete(key)
    transcript = [
        {k: v for k, v in entry.items() if k != "headers"}
        | {"content-type": entry.get("headers", {}).get("content-type")}
        for entry in server.transcript
    ]
    assert_golden(transcript, Path(__file__).parent / "golden" / "atompub.json")
