"""The browsable layout: safe readable names, homonyms, the key index, metadata columns."""

from __future__ import annotations

import io
from datetime import date

import pytest
from tests.adapters.sharepoint.conftest import ROOT, serve
from tests.adapters.sharepoint.server import SITE, SharePointProtocol

from grc_adapters.sharepoint.backend import INDEX_FOLDER, marker_name
from grc_adapters.sharepoint.names import (
    MAX_PATH_LENGTH,
    NO_COMPANY,
    Placement,
    clean_segment,
    fit_path,
    numbered,
    placement,
)
from grc_core.errors import BlobExists, BlobNotFound, InvalidKey

KEY = "2026/03/" + "a" * 32


def read(backend, key) -> bytes:
    with backend.open(key) as stream:
        return stream.read()


# --- names (pure functions) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('Devis "final" #2 50% R&D.pdf', "Devis ＂final＂ ＃2 50％ R＆D.pdf"),
        ("l'offre été à Orléans.docx", "l'offre été à Orléans.docx"),
        ("a:b*c?d<e>f|g/h\\i~j{k}", "a：b＊c？d＜e＞f｜g／h＼i～j｛k｝"),
        ("  ..trailing dots and spaces.. ", "trailing dots and spaces"),
        ("tabs\tand\nnewlines\r\nfolded", "tabs and newlines folded"),
        ("bidi \u202egnp.exe", "bidi gnp.exe"),
        ("zero\u200bwidth", "zerowidth"),
        ("e\u0301te\u0301", "été"),  # decomposed accents (macOS) → NFC
        ("report..v2...pdf", "report.v2.pdf"),
        ("my_vti_file", "my_vti-file"),
        ("CON.txt", "CON_.txt"),
        ("nul", "nul_"),
        ("desktop.ini", "desktop_.ini"),
        ("...", ""),
        ("\x00\x01", ""),
    ],
)
def test_clean_segment(raw, expected):
    assert clean_segment(raw, 128, keep_extension=True) == expected


def test_clean_segment_cuts_long_names_keeping_the_extension():
    name = clean_segment("x" * 300 + ".pdf", 40, keep_extension=True)
    assert name == "x" * 36 + ".pdf"
    assert clean_segment("y" * 300, 40) == "y" * 40
    assert clean_segment(None, 40) == ""


def test_numbered_homonyms():
    assert numbered("devis.pdf", 1) == "devis.pdf"
    assert numbered("devis.pdf", 2) == "devis (2).pdf"
    assert numbered("archive", 12) == "archive (12)"
    assert len(numbered("z" * 128 + ".pdf", 7, 128)) <= 128


def test_placement_uses_hints_then_falls_back():
    full = placement(
        KEY,
        {"company": "ACME", "date": "2026-03-02", "subject": "Visite", "filename": "cr.pdf"},
    )
    assert full == Placement(("ACME", "2026-03-02 — Visite"), "cr.pdf")
    bare = placement(KEY, None)
    assert bare == Placement((NO_COMPANY, "2026-03"), "2026-03-" + "a" * 32)
    odd = placement("custom-key", {"date": "2026-02-31"}, today=date(2026, 5, 4))
    assert odd.folders == (NO_COMPANY, "2026-05-04")
    hidden = placement(KEY, {"company": INDEX_FOLDER}, reserved=(INDEX_FOLDER,))
    assert hidden.folders[0] != INDEX_FOLDER and hidden.folders[0].endswith("grc-keys")


def test_fit_path_respects_sharepoints_limit():
    prefix = "/sites/grc/Shared Documents/" + "R" * 200
    place = Placement(("C" * 80, "2026-03-02 — " + "S" * 87), "F" * 120 + ".pdf")
    fitted = fit_path(prefix, place)
    total = len(prefix) + sum(len(f) + 1 for f in fitted.folders) + 1 + len(fitted.file_name)
    assert total + len(" (999)") <= MAX_PATH_LENGTH
    assert fitted.file_name.endswith(".pdf")
    assert fitted.folders[0] == "C" * 80  # the company is kept when possible
    with pytest.raises(ValueError, match="no room"):
        fit_path("/" + "r" * 399, place)


# --- names on the server ----------------------------------------------------------------------

AWKWARD = {
    "company": "Société Générale & Fils",
    "date": "2026-03-02",
    "subject": "Devis n°1 « urgent » #42 'spécial' 100%",
    "filename": 'l\'offre "finale" #2 à 50% R&D été.pdf',
    "exchange_id": "42",
    "author": "alice",
}


def test_awkward_names_round_trip_and_stay_readable(backend, protocol):
    data = b"contenu \xe9t\xe9 " * 50_000  # several fragments
    key = backend.put(KEY, io.BytesIO(data), metadata=AWKWARD)
    expected = (
        f"{ROOT}/Société Générale ＆ Fils/2026-03-02 — Devis n°1 « urgent » ＃42 'spécial' "
        "100％/l'offre ＂finale＂ ＃2 à 50％ R＆D été.pdf"
    )
    assert protocol.documents(ROOT) == {expected: len(data)}
    assert read(backend, key) == data
    assert backend.stat(key).size == len(data)
    assert [b.key for b in backend.iter_blobs()] == [key]


@pytest.mark.parametrize(
    "filename",
    ["quote's.txt", 'double "quoted".txt', "hash #1.txt", "100% sure.txt", "R&D.txt", "été à.txt"],
)
def test_each_awkward_character_round_trips(backend, protocol, filename):
    key = backend.put(KEY, io.BytesIO(filename.encode()), metadata={"filename": filename})
    assert read(backend, key) == filename.encode()
    (path,) = protocol.documents(ROOT)
    assert path.endswith(clean_segment(filename, 128, keep_extension=True))


def test_homonyms_are_numbered_never_replaced(make_backend, protocol, server):
    backend = make_backend()
    hints = {"company": "ACME", "date": "2026-03-02", "subject": "Visite", "filename": "devis.pdf"}
    first = backend.put("2026/03/" + "1" * 32, io.BytesIO(b"one"), metadata=hints)
    second = backend.put("2026/03/" + "2" * 32, io.BytesIO(b"two"), metadata=hints)
    shouting = {**hints, "filename": "DEVIS.pdf"}  # SharePoint names are case-insensitive
    third = backend.put("2026/03/" + "3" * 32, io.BytesIO(b"three"), metadata=shouting)
    folder = f"{ROOT}/ACME/2026-03-02 — Visite"
    assert protocol.documents(ROOT) == {
        f"{folder}/devis.pdf": 3,
        f"{folder}/devis (2).pdf": 3,
        f"{folder}/DEVIS (3).pdf": 5,
    }
    assert [read(backend, k) for k in (first, second, third)] == [b"one", b"two", b"three"]
    # The backend never asks for a silent replacement.
    assert not any("overwrite=true" in entry["path"] for entry in server.transcript)


def test_a_homonym_created_after_the_check_is_not_replaced(backend, protocol, server):
    folder = f"{ROOT}/ACME/2026-03-02 — Visite"
    hints = {"company": "ACME", "date": "2026-03-02", "subject": "Visite", "filename": "cr.pdf"}
    backend.put("2026/03/" + "0" * 32, io.BytesIO(b"x"), metadata={**hints, "filename": "x"})

    from tests.adapters.protocol_server import Fault

    def sneak_in(request) -> bool:
        # Someone creates cr.pdf between our existence check and our Files/add.
        if "Files/add" in request.raw_path and protocol.file_info(f"{folder}/cr.pdf") is None:
            protocol.add_file(folder, "cr.pdf", b"theirs")
        return False

    server.inject(Fault("status", match=sneak_in, times=10**9))
    key = backend.put(KEY, io.BytesIO(b"ours"), metadata=hints)
    assert protocol.content(f"{folder}/cr.pdf") == b"theirs"
    assert protocol.content(f"{folder}/cr (2).pdf") == b"ours"
    assert read(backend, key) == b"ours"


# --- the key index ------------------------------------------------------------------------------


def test_the_key_index_finds_a_blob_by_its_core_key(backend, protocol):
    key = backend.put(KEY, io.BytesIO(b"indexed"))
    assert protocol.markers(ROOT) == {marker_name(KEY): key}
    # A resumed migration asks by core key: open, stat and delete accept it.
    assert read(backend, KEY) == b"indexed"
    assert backend.stat(KEY).size == len(b"indexed")
    with pytest.raises(BlobExists):
        backend.put(KEY, io.BytesIO(b"again"))
    backend.delete(KEY)
    assert protocol.markers(ROOT) == {}
    assert protocol.documents(ROOT) == {}
    with pytest.raises(BlobNotFound):
        backend.stat(KEY)


def test_a_stale_marker_does_not_block_the_key(backend, protocol):
    first = backend.put(KEY, io.BytesIO(b"first"))
    backend.delete(first)  # by UniqueId: the marker stays, pointing nowhere
    assert protocol.markers(ROOT) == {marker_name(KEY): first}
    with pytest.raises(BlobNotFound):
        backend.open(KEY)
    second = backend.put(KEY, io.BytesIO(b"second"))
    assert second != first
    assert protocol.markers(ROOT) == {marker_name(KEY): second}
    assert read(backend, KEY) == b"second"


def test_markers_and_foreign_files_are_not_blobs(backend, protocol):
    key = backend.put(KEY, io.BytesIO(b"mine"))
    marker = protocol.file_info(f"{ROOT}/{INDEX_FOLDER}/{marker_name(KEY)}")
    foreign = protocol.add_file(f"{SITE}/Shared Documents", "budget.xlsx", b"not GRC's")
    assert [b.key for b in backend.iter_blobs()] == [key]
    for uid in (marker.uid, foreign.uid):
        with pytest.raises(BlobNotFound):
            backend.open(uid)
        with pytest.raises(BlobNotFound):
            backend.delete(uid)
    assert protocol.content(f"{SITE}/Shared Documents/budget.xlsx") == b"not GRC's"


def test_a_company_named_like_the_index_is_still_listed(backend, protocol):
    key = backend.put(KEY, io.BytesIO(b"hidden?"), metadata={"company": INDEX_FOLDER})
    assert [b.key for b in backend.iter_blobs()] == [key]


def test_unsafe_keys_are_refused_everywhere(backend):
    for operation in ("open", "stat", "delete"):
        with pytest.raises(InvalidKey):
            getattr(backend, operation)("../etc/passwd")


def test_listing_pages_through_large_folders(backend, protocol):
    backend.page_size = 2  # SharePoint pages collections; make the pages tiny
    keys = {
        backend.put(f"2026/03/{i:032x}", io.BytesIO(b"p"), metadata={"filename": f"p{i}.txt"})
        for i in range(5)
    }
    assert {b.key for b in backend.iter_blobs()} == keys


def test_a_missing_library_is_a_clear_error(make_backend):
    backend = make_backend(library="Documents partages")
    from grc_core.errors import StorageError

    with pytest.raises(StorageError, match="library 'Documents partages' does not exist"):
        backend.put(KEY, io.BytesIO(b"x"))


# --- metadata columns ---------------------------------------------------------------------


def test_metadata_columns_are_set_and_used_to_clean_the_index(tmp_path, caplog):
    protocol = SharePointProtocol(tmp_path / "sp", columns=("GrcReference", "GrcExchange"))
    with serve(protocol) as server:
        from grc_adapters.sharepoint.plugin import make_sharepoint_backend

        backend = make_sharepoint_backend(
            {
                "site_url": server.url + SITE,
                "access_token": "T",
                "column_reference": "GrcReference",
                "column_exchange": "GrcExchange",
                "column_author": "GrcAuthor",  # not a column of this library
            }
        )
        key = backend.put(KEY, io.BytesIO(b"x"), metadata={"exchange_id": "42", "author": "bob"})
        (path,) = protocol.documents(ROOT)
        fields = protocol.file_info(path).fields
        assert fields == {"GrcReference": KEY, "GrcExchange": "42"}
        assert "GrcAuthor" in caplog.text  # a missing column is reported, not fatal
        # Deleting by UniqueId finds the core key in the reference column: no stale marker.
        backend.delete(key)
        assert protocol.markers(ROOT) == {}
        backend.close()


def test_a_root_folder_removed_by_hand_is_created_again(backend, protocol):
    backend.put("2026/03/" + "1" * 32, io.BytesIO(b"before"))
    with protocol.lock:  # an administrator deletes the whole tree
        del protocol.library.folders["crm"]
    key = backend.put(KEY, io.BytesIO(b"after"))
    assert read(backend, key) == b"after"
    assert list(protocol.documents(ROOT).values()) == [len(b"after")]
