"""Which matches quick search ranks: the most recent by start date, and subject or name
matches never hidden by newer matches in the details (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.queries import search as search_module
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import search
from grc_core.services import companies, exchanges, users


@pytest.fixture
def small_window(monkeypatch):
    # The rule is the same at 500; a window of 4 needs a handful of exchanges, not 600.
    monkeypatch.setattr(search_module, "SEARCH_WINDOW", 4)


def add(session, world, subject, details="", hours=0.0, **kw):
    return exchanges.create_exchange(
        session, world.alice, subject=subject, details=details, start=world.at(hours),
        action="call", **kw,
    )  # fmt: skip


def subjects(session, user, raw, flt=None, limit=20):
    return [h.entry.subject for h in search(session, user, raw, flt, limit=limit)]


def test_a_subject_match_is_found_behind_newer_details_matches(world, session, small_window):
    # The oldest exchange, created last (highest id) or first (lowest id): found either way.
    add(session, world, "Historique des commandes", hours=-500)
    for i in range(10):
        add(session, world, f"Suivi {i}", "Voir l'historique du compte", hours=i)
    add(session, world, "Historique des factures", hours=-400)
    hits = search(session, world.admin, "historique", limit=20)
    found = [h.entry.subject for h in hits]
    # Subject matches first, then the 4 most recent details matches; nothing else.
    assert found[:2] == ["Historique des factures", "Historique des commandes"]
    assert found[2:] == ["Suivi 9", "Suivi 8", "Suivi 7", "Suivi 6"]
    assert all(h.rank >= 1 for h in hits[:2]) and all(h.rank < 1 for h in hits[2:])


def test_company_and_contact_name_matches_are_found_behind_newer_details_matches(
    world, session, small_window
):
    company = companies.create_company(session, world.admin, name="Zéphyrin Industries")
    contact = companies.create_contact(
        session, world.admin, world.acme.id, last_name="Quintal", first_name="Odile"
    )
    add(session, world, "Appel", hours=-300, company_id=company.id)
    add(session, world, "Réunion", hours=-200, company_id=world.acme.id, contact_ids=[contact.id])
    for i in range(8):
        add(session, world, f"Note {i}", "Concurrent de Zephyrin, ami de Quintal", hours=i)
    assert subjects(session, world.admin, "zephyrin ")[:1] == ["Appel"]
    assert subjects(session, world.admin, "quintal ")[:1] == ["Réunion"]
    # All the words must be in the subject and names for the first group.
    assert subjects(session, world.admin, "zephyrin appel ")[:1] == ["Appel"]


def test_the_window_holds_the_most_recent_matches_by_start_not_by_id(world, session, small_window):
    # Created newest first: the highest ids hold the oldest dates.
    for i in range(8):
        add(session, world, f"Relevé {i}", "Compteur relevé", hours=100 - 10 * i)
    assert subjects(session, world.admin, "compteur ") == [
        "Relevé 0",
        "Relevé 1",
        "Relevé 2",
        "Relevé 3",
    ]


def test_a_subject_match_outside_the_filter_stays_out(world, session, small_window):
    add(session, world, "Historique ancien", hours=-500)
    add(session, world, "Historique récent", hours=5)
    week = ExchangeFilter(since=world.at(0), until=world.at(24 * 7))
    assert subjects(session, world.admin, "historique", week) == ["Historique récent"]


def test_private_subject_matches_stay_private(world, session, small_window):
    add(session, world, "Historique confidentiel", hours=-50, private=True)
    add(session, world, "Autre", "historique", hours=1)
    assert subjects(session, world.carol, "historique") == ["Autre"]
    assert subjects(session, world.alice, "historique") == ["Historique confidentiel", "Autre"]


def test_date_filters_keep_their_exact_bounds(world, session):
    since = datetime(2026, 3, 2, 9, 0, 30, 500, tzinfo=UTC)
    until = since + timedelta(days=7)
    for label, when in (
        ("avant", since - timedelta(microseconds=1)),
        ("debut", since),
        ("fin", until - timedelta(microseconds=1)),
        ("apres", until),
        ("ancien", datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC)),
    ):
        exchanges.create_exchange(
            session, world.alice, subject=f"Borne {label}", start=when, action="call"
        )
    week = ExchangeFilter(since=since, until=until)
    assert sorted(subjects(session, world.admin, "borne", week)) == ["Borne debut", "Borne fin"]
    before_1970 = ExchangeFilter(until=datetime(1970, 1, 1, tzinfo=UTC))
    assert subjects(session, world.admin, "borne", before_1970) == ["Borne ancien"]
    assert len(subjects(session, world.admin, "borne")) == 5


def test_a_new_start_date_moves_the_exchange_in_the_search_index(world, session, small_window):
    moved = add(session, world, "Déplacé", "inventaire", hours=-100)
    for i in range(5):
        add(session, world, f"Tâche {i}", "inventaire", hours=i)
    assert "Déplacé" not in subjects(session, world.admin, "inventaire")
    exchanges.update_exchange(session, world.alice, moved.id, start=world.at(50), end=world.at(50))
    assert subjects(session, world.admin, "inventaire") == [
        "Déplacé",
        "Tâche 4",
        "Tâche 3",
        "Tâche 2",
    ]
    week = ExchangeFilter(since=world.at(49), until=world.at(51))
    assert subjects(session, world.admin, "inventaire", week) == ["Déplacé"]
    exchanges.delete_exchange(session, world.alice, moved.id)
    assert subjects(session, world.admin, "inventaire", week) == []


def test_prefixes_complete_to_indexed_words_or_fall_back(world, session, monkeypatch):
    for i, word in enumerate(("parquet", "parking", "partenaire", "paroisse")):
        add(session, world, f"Sujet {i}", f"Le {word} du client", hours=i)
    expected = ["Sujet 3", "Sujet 2", "Sujet 1", "Sujet 0"]
    assert subjects(session, world.admin, "par") == expected
    monkeypatch.setattr(search_module, "MAX_COMPLETIONS", 2)  # too many: FTS5's prefix search
    assert subjects(session, world.admin, "par") == expected
    assert subjects(session, world.admin, "parq") == ["Sujet 0"]
    assert subjects(session, world.admin, "parqz") == []


def _narvalos(engine):
    with Session(engine) as session:
        admin = users.get_user(session, "adm")
        return subjects(session, admin, "banquise"), subjects(session, admin, "narv")


def test_migration_0011_up_and_down_keeps_search(fresh_url):
    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as session:
            admin = users.create_user(session, None, login="adm", display_name="A", is_admin=True)
            for i, year in enumerate((2024, 1960, 2020)):
                exchanges.create_exchange(
                    session, admin, subject=f"Narvalo {i}", details="banquise",
                    start=datetime(year, 5, 1, tzinfo=UTC), action="call",
                )  # fmt: skip
            session.commit()
        expected = ["Narvalo 0", "Narvalo 2", "Narvalo 1"]
        assert _narvalos(engine) == (expected, expected)
        schema.downgrade(engine, "0010")
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # back to one row per exchange id
                ids = conn.exec_driver_sql(
                    "SELECT rowid FROM exchange_fts WHERE exchange_fts MATCH 'banquis'"
                    " ORDER BY rowid"
                ).scalars()
                assert list(ids) == [1, 2, 3]
                # The text is current: only the migration's own backfill runs.
                conn.exec_driver_sql("PRAGMA user_version = 1")
            else:
                assert not conn.scalar(
                    text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_exchange_search_title'")
                )
        schema.upgrade(engine)
        assert _narvalos(engine) == (expected, expected)
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                terms = set(conn.exec_driver_sql("SELECT term FROM exchange_fts_terms").scalars())
                assert {"narvalo", "banquis", "banquise"} <= terms
                assert not any(t in terms for t in ("\ue000", "\ue001"))
    finally:
        engine.dispose()


def test_renaming_a_company_reindexes_its_exchanges_in_date_order(world, session, small_window):
    company = companies.create_company(session, world.admin, name="Ancienne Raison")
    for i in range(6):
        add(session, world, f"Visite {i}", hours=10 * i, company_id=company.id)
    companies.update_company(session, world.admin, company.id, name="Nouvelle Enseigne")
    assert subjects(session, world.admin, "ancienne ") == []
    # Name matches, the 4 most recent by start: the rewritten rows kept their date order.
    assert subjects(session, world.admin, "enseigne ") == [
        "Visite 5",
        "Visite 4",
        "Visite 3",
        "Visite 2",
    ]
    week = ExchangeFilter(since=world.at(15), until=world.at(35))
    assert subjects(session, world.admin, "enseigne ", week) == ["Visite 3", "Visite 2"]
