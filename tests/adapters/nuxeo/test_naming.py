"""Titles and path-segment names made from users' hints."""

from __future__ import annotations

import pytest

from grc_adapters.nuxeo.naming import (
    MAX_NAME,
    clean_title,
    layout_for,
    numbered,
    safe_name,
)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("  Compte   rendu\td'été  ", "Compte rendu d'été"),
        ("Échéance / relance \u202egnp.exe", "Échéance / relance gnp.exe"),
        ("a\x00b\u200bc\r\nd", "abc d"),
        ("e\u0301te\u0301", "été"),  # NFC
        ("", ""),
        (None, ""),
    ],
)
def test_titles_keep_what_people_read_and_lose_invisible_characters(text, title):
    assert clean_title(text) == title


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Société Générale", "Société Générale"),
        ("../../Société Générale", "Société Générale"),
        ("..\\..\\facture.pdf\x00.exe", "facture.pdf.exe"),
        ('devis "final" #3 & co: 100%?.pdf', "devis -final- -3 - co- 100-.pdf"),
        ("ACME/Paris", "ACME-Paris"),
        ("...", "fallback"),
        ("  ", "fallback"),
        ("l'été", "l'été"),
    ],
)
def test_names_are_safe_path_segments(title, name):
    assert safe_name(title, "fallback") == name


def test_long_names_are_cut_keeping_the_extension():
    name = safe_name("x" * 300 + ".pdf", "f")
    assert len(name) == MAX_NAME and name.endswith("x.pdf")
    assert len(safe_name("y" * 300, "f")) == MAX_NAME


@pytest.mark.parametrize(
    ("name", "n", "result"),
    [
        ("report.pdf", 1, "report.pdf"),
        ("report.pdf", 2, "report (2).pdf"),
        ("archive.tar.gz", 3, "archive.tar (3).gz"),
        ("README", 2, "README (2)"),
        (".hidden", 2, ".hidden (2)"),
    ],
)
def test_numbered_candidates_keep_the_extension(name, n, result):
    assert numbered(name, n) == result


def test_layout_from_full_hints():
    layout = layout_for(
        {
            "company": "ACME",
            "date": "2026-03-02T10:00:00",
            "subject": "Visite",
            "filename": "cr.pdf",
        }
    )
    assert [(f.title, f.name) for f in layout.folders] == [
        ("ACME", "ACME"),
        ("2026-03-02 — Visite", "2026-03-02 — Visite"),
    ]
    assert (layout.file_title, layout.file_name, layout.mime_type) == (
        "cr.pdf", "cr.pdf", "application/pdf",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("hints", "folders"),
    [
        ({}, ["No company"]),
        ({"date": "2026-13-45", "subject": ""}, ["No company"]),
        ({"date": "2026-03-02"}, ["No company", "2026-03-02"]),
        ({"subject": "Relance"}, ["No company", "Relance"]),
        ({"company": 42, "subject": None}, ["No company"]),  # not strings: ignored
    ],
)
def test_layout_fallbacks(hints, folders):
    layout = layout_for(hints)
    assert [f.title for f in layout.folders] == folders
    assert layout.file_title == "attachment"
    assert layout.mime_type == "application/octet-stream"
