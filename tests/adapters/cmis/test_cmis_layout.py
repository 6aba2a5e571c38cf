"""The browsable layout: safe readable names, fallbacks, no overwrite, keys and listing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from grc_adapters.cmis import naming
from grc_adapters.cmis.backend import _moment, stable_id
from grc_core.errors import BlobNotFound

ROOT = "/Sites/crm/documentLibrary/CRM"


def path_of(protocol, key: str) -> str:
    return protocol.path_of(protocol.nodes[key])


# --- names through the real server -----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "stored_as"),
    [
        ('l\'offre "finale".pdf', "l'offre 'finale'.pdf"),
        ("devis #12.pdf", "devis #12.pdf"),
        ("remise 100% & co.pdf", "remise 100% & co.pdf"),
        ("  compte   rendu  .docx", "compte rendu .docx"),
        ("échéancier Noël – Œuvre.xlsx", "échéancier Noël – Œuvre.xlsx"),
        ("a+b=c; d@e,f!(g).txt", "a+b=c; d@e,f!(g).txt"),
        ("?*<>|:.pdf", "____--.pdf"),
    ],
)
def test_file_names_round_trip(backend, protocol, filename, stored_as):
    data = f"content of {filename}".encode()
    metadata = {"company": "Société Générale & Fils", "date": "2026-03-02",
                "subject": "Relance #4 \"urgent\" 50%", "filename": filename}  # fmt: skip
    key = backend.put("2026/03/" + "1" * 32, io.BytesIO(data), size=len(data), metadata=metadata)
    assert path_of(protocol, key) == (
        f"{ROOT}/Société Générale & Fils/2026-03-02 — Relance #4 'urgent' 50%/{stored_as}"
    )
    with backend.open(key) as stream:
        assert stream.read() == data
    assert backend.stat(key).size == len(data)
    # The subject is kept as typed in the description, with the CRM references.
    assert protocol.nodes[key].description.splitlines()[0] == 'Relance #4 "urgent" 50%'


def test_names_are_never_overwritten(backend, protocol):
    metadata = {"company": "ACME", "date": "2026-03-02", "subject": "Visite", "filename": "cr.pdf"}
    keys = [
        backend.put(f"2026/03/{i:032x}", io.BytesIO(b"v%d" % i), size=2, metadata=metadata)
        for i in range(3)
    ]
    assert [protocol.nodes[k].name for k in keys] == ["cr.pdf", "cr (2).pdf", "cr (3).pdf"]
    assert [backend.open(k).read() for k in keys] == [b"v0", b"v1", b"v2"]
    # Case-insensitive, as Alfresco's names are.
    other = dict(metadata, filename="CR.PDF")
    key = backend.put("2026/03/" + "9" * 32, io.BytesIO(b"up"), size=2, metadata=other)
    assert protocol.nodes[key].name == "CR (4).PDF"


@pytest.mark.parametrize(
    ("metadata", "folders"),
    [
        ({}, "No company"),
        ({"company": "ACME"}, "ACME"),
        ({"company": "ACME", "subject": "Renouvellement"}, "ACME/Renouvellement"),
        ({"company": "ACME", "date": "2026-03-02"}, "ACME/2026-03-02"),
        ({"company": "ACME", "date": "2026-03-02T09:30:00+01:00", "subject": "Appel"},
         "ACME/2026-03-02 — Appel"),
        ({"company": "ACME", "date": "yesterday", "subject": "Appel"}, "ACME/Appel"),
        ({"company": "...", "subject": "\u202e\u200b"}, "No company"),
        ({"company": "_GRC-index"}, "_GRC-index (company)"),  # never inside the index
    ],
)  # fmt: skip
def test_folder_layout_and_fallbacks(backend, protocol, metadata, folders):
    key = backend.put("2026/03/" + "2" * 32, io.BytesIO(b"x"), size=1, metadata=metadata)
    assert path_of(protocol, key) == f"{ROOT}/{folders}/attachment"


def test_the_key_is_the_version_independent_id_and_both_ids_work(backend, protocol):
    key = backend.put("2026/03/" + "3" * 32, io.BytesIO(b"same"), size=4)
    node = protocol.nodes[key]
    assert key == node.node_id and node.object_id == f"{key};1.0"
    for ident in (key, node.object_id):
        assert backend.stat(ident).size == 4
        with backend.open(ident) as stream:
            assert stream.read() == b"same"


def test_delete_frees_the_key(backend, protocol):
    core = "2026/03/" + "4" * 32
    key = backend.put(core, io.BytesIO(b"one"), size=3)
    assert len([d for d in protocol.documents() if d.content is None]) == 1
    backend.delete(key)
    assert protocol.documents() == []  # the document and its index entry
    again = backend.put(core, io.BytesIO(b"two"), size=3)
    assert backend.open(again).read() == b"two"


def test_a_folder_id_is_not_a_blob(backend, protocol):
    backend.put("2026/03/" + "5" * 32, io.BytesIO(b"x"), size=1, metadata={"company": "ACME"})
    folder = protocol.find(f"{ROOT}/ACME")
    with pytest.raises(BlobNotFound, match="folder"):
        backend.stat(folder.node_id)
    with pytest.raises(BlobNotFound, match="not a document"):
        backend.open(folder.node_id)
    with pytest.raises(BlobNotFound):
        backend.delete(folder.node_id)
    assert protocol.find(f"{ROOT}/ACME") is not None


def test_json_content_is_streamed_as_bytes(backend, protocol):
    """cmislib's getContentStream() would parse application/json content; open() does not."""
    data = b'{"exchanges": [1, 2, 3]}'
    key = backend.put("2026/03/" + "6" * 32, io.BytesIO(data), size=len(data),
                      metadata={"filename": "export.json"})  # fmt: skip
    assert protocol.nodes[key].mime == "application/json"
    with backend.open(key) as stream:
        assert stream.read() == data


# --- listing ---------------------------------------------------------------------------------


def test_iter_blobs_pages_recurses_and_skips_what_grc_did_not_store(make_backend, protocol):
    protocol.page_size = 3  # the server caps every page at 3 children
    backend = make_backend()
    keys = set()
    for i in range(7):
        metadata = {"company": f"C{i % 2}", "date": "2026-03-02", "filename": "f.txt"}
        keys.add(backend.put(f"2026/03/{i:032x}", io.BytesIO(b"%d" % i), size=1, metadata=metadata))
    # A person filed a document by hand in the browsable tree: not GRC's, never listed
    # (so `grc storage verify --repair` cannot delete it).
    protocol.plant(f"{ROOT}/C0", "notes.txt", description="meeting notes", content=b"mine")
    listed = {info.key: info for info in backend.iter_blobs()}
    assert set(listed) == keys
    assert all(info.size == 1 and info.modified.utcoffset().total_seconds() == 0
               for info in listed.values())  # fmt: skip


def test_iter_blobs_of_a_missing_root_is_empty(backend, protocol):
    assert list(backend.iter_blobs()) == []
    assert protocol.find(ROOT) is None  # listing creates nothing


# --- naming, unit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a*b"c<d>e\\f/g?h:i|j', "a_b'c_d_e-f-g_h-i-j"),
        ("name. . .", "name"),
        ("...hidden", "hidden"),
        (".hidden-by-alfresco", "hidden-by-alfresco"),
        ("tab\there\nnew line", "tab here new line"),
        ("bidi \u202egnp.exe", "bidi gnp.exe"),
        ("zero\u200bwidth", "zerowidth"),
        ("e\u0301te\u0301", "été"),  # NFC
        ("", "fallback"),
        ("  ..  ", "fallback"),
    ],
)
def test_safe_name(text, expected):
    assert naming.safe_name(text, "fallback") == expected


def test_long_names_are_cut_keeping_the_extension():
    name = naming.safe_name("x" * 300 + ".pdf", "f")
    assert len(name) == naming.MAX_NAME_LENGTH and name.endswith("x.pdf")
    assert len(naming.safe_name("y" * 300, "f")) == naming.MAX_NAME_LENGTH


def test_candidate_names():
    assert list(naming.candidate_names("cr.pdf", 3)) == ["cr.pdf", "cr (2).pdf", "cr (3).pdf"]
    assert list(naming.candidate_names("README", 2)) == ["README", "README (2)"]
    long = "z" * (naming.MAX_NAME_LENGTH - 4) + ".pdf"
    assert naming.safe_name(long, "f") == long
    assert all(len(n) <= naming.MAX_NAME_LENGTH for n in naming.candidate_names(long, 12))


def test_the_key_line_cannot_be_forged_by_the_subject():
    text = naming.description(
        {"subject": "GRC key: 2026/01/evil\nGRC key: 2026/01/evil2"}, "2026/03/ok"
    )
    assert naming.key_in(text) == "2026/03/ok"
    assert len(text.splitlines()) == 2  # the subject's new line was flattened
    assert naming.key_in("edited by someone") is None
    assert naming.key_in(None) is None


@pytest.mark.parametrize(
    ("properties", "key"),
    [
        ({"cmis:objectId": "abc;1.0", "cmis:versionSeriesId": "abc"}, "abc"),  # Alfresco
        ({"cmis:objectId": "abc;2.1", "cmis:versionSeriesId": "abc"}, "abc"),
        ({"cmis:objectId": "100", "cmis:versionSeriesId": "101"}, "100"),  # OpenCMIS InMemory
        ({"cmis:objectId": "d2f1", "cmis:versionSeriesId": None}, "d2f1"),  # not versionable
    ],
)
def test_stable_id(properties, key):
    assert stable_id(properties) == key


def test_dates_are_read_as_aware_utc():
    assert _moment(1772442000000) == datetime(2026, 3, 2, 9, tzinfo=UTC)  # epoch ms
    assert _moment("2026-03-02T10:00:00+01:00") == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert _moment("2026-03-02T09:00:00Z").utcoffset() == timedelta(0)
    assert _moment(10**30) is None and _moment("soon") is None and _moment(None) is None
