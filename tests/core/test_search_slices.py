"""PostgreSQL's walk by date slices (migration 0012): blocks that cover exactly the days
asked, slices newest first, rows that follow their exchange's start, typed prefixes
completed into indexed words, and a plan that never walks the exchanges by date."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, text

from grc_core.queries import search as search_module
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import SLICE_LEVELS, _tsquery_lexeme, day_slices, search, slice_blocks
from grc_core.services import exchanges

#: PostgreSQL only (SQLite keys its full-text rows by date instead, migration 0011).
POSTGRESQL = pytest.mark.parametrize("migrated_engine", ["postgresql"], indirect=True)


def _days(block: str) -> range:
    level, number = (int(part) for part in block.removeprefix("~").split("."))
    size = 4**level
    return range(number * size, (number + 1) * size)


@given(st.integers(-30000, 30000), st.integers(0, 20000))
def test_blocks_cover_exactly_the_days_asked(low, length):
    blocks = slice_blocks(low, low + length)
    covered = [day for block in blocks for day in _days(block)]
    assert sorted(covered) == list(range(low, low + length))  # each day once
    assert all(0 <= int(b[1:].split(".")[0]) < SLICE_LEVELS for b in blocks)
    # Few blocks: at most three of each size on either side of the largest ones.
    assert len(blocks) <= 6 * SLICE_LEVELS


@given(st.integers(-30000, 30000), st.integers(0, 5000))
def test_slices_run_from_the_newest_day_back_to_the_oldest(first, length):
    last = first + length
    slices = list(day_slices(first, last))
    assert slices[0] == (last, last + 1)  # the newest day alone first
    assert slices[-1][0] == first
    for (low, _), (_, high) in itertools.pairwise(slices):
        assert high == low  # contiguous, newest first
    assert len(slices) <= 6  # growing: a few statements' worth, not one per day


@POSTGRESQL
def test_blocks_are_those_the_database_writes(world, session):
    for when in (datetime(2025, 12, 29, 23, 0, tzinfo=UTC), datetime(1969, 12, 31, 23, tzinfo=UTC)):
        written = session.scalar(
            text("SELECT tsvector_to_array(grc_search_slices(:t))"), {"t": when}
        )
        day = int(when.timestamp() // 86400)
        # The block of every level holding that day, and the one-day block is that day's.
        assert sorted(written) == sorted(slice_blocks(day, day + 1) + [
            f"~{level}.{day >> 2 * level}" for level in range(1, SLICE_LEVELS)
        ])  # fmt: skip


@POSTGRESQL
def test_a_lexeme_is_quoted_for_a_tsquery(session):
    for word in ("l'eau", "a\\b", "x y", "~0.1", "é:*"):
        matches = text("SELECT array_to_tsvector(ARRAY[:w]) @@ CAST(:q AS tsquery)")
        assert session.scalar(matches, {"w": word, "q": _tsquery_lexeme(word)})
        assert not session.scalar(matches, {"w": word + "x", "q": _tsquery_lexeme(word)})


def _add(session, world, subject, details, when):
    return exchanges.create_exchange(
        session, world.alice, subject=subject, details=details, start=when, action="call"
    )


def test_matches_years_apart_are_found_newest_first(world, session):
    # One match a few days old, others years back, and many newer exchanges without one.
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for years in (0, 3, 9, 40):
        _add(session, world, f"Cormoran {years}", "", base - timedelta(days=365 * years + 2))
    for i in range(30):
        _add(session, world, f"Autre {i}", "cormoran", base - timedelta(days=900 + i))
    for i in range(20):
        _add(session, world, f"Récent {i}", "sans rapport", base + timedelta(hours=i))
    hits = [h.entry.subject for h in search(session, world.admin, "cormoran ")]
    assert hits[:4] == ["Cormoran 0", "Cormoran 3", "Cormoran 9", "Cormoran 40"]
    assert hits[4:] == [f"Autre {i}" for i in range(16)]


@POSTGRESQL
def test_a_prefix_is_completed_into_indexed_words(world, session, monkeypatch):
    for i, word in enumerate(("parquet", "parking", "partenaire", "paroisse")):
        _add(session, world, f"Sujet {i}", f"Le {word} du client", world.at(i))
    terms = set(session.scalars(text("SELECT term FROM exchange_search_terms")))
    assert {"parquet", "parking", "partenair", "partenaire"} <= terms
    statements: list[dict[str, object]] = []

    def seen(_conn, _cursor, _statement, parameters, _context, _many):
        statements.append(dict(parameters or {}))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert [h.entry.subject for h in search(session, world.admin, "Par")] == [
            "Sujet 3", "Sujet 2", "Sujet 1", "Sujet 0",
        ]  # fmt: skip
        assert any("'parquet'" in str(p.get("prefix_words")) for p in statements)
        # Too many completions: the prefix search of the database, same hits.
        monkeypatch.setattr(search_module, "MAX_COMPLETIONS", 2)
        statements.clear()
        assert len(search(session, world.admin, "par")) == 4
        assert not any("prefix_words" in p for p in statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [h.entry.subject for h in search(session, world.admin, "parq")] == ["Sujet 0"]
    assert search(session, world.admin, "parqz") == []


@POSTGRESQL
def test_the_search_never_walks_the_exchanges_by_date(world, session):
    # Two common words that never meet: walking the exchanges by date read every one.
    for i in range(40):
        _add(session, world, "Présentation" if i % 2 else "Réunion", "", world.at(i))
    session.execute(text("ANALYZE"))
    plans: list[str] = []

    def explain(conn, _cursor, statement, parameters, context, _many):
        if "slices" in (parameters or {}) and statement.startswith(("SELECT", "WITH")):
            found = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars()
            plans.append("\n".join(found))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", explain)
    try:
        assert search(session, world.admin, "présentation réunion ") == []
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert plans and all("ix_exchanges_start" not in plan for plan in plans)


def test_a_period_without_exchanges_finds_nothing(world, session):
    _add(session, world, "Pélican", "", world.at(0))
    later = ExchangeFilter(since=world.at(24 * 400), until=world.at(24 * 500))
    assert search(session, world.admin, "pélican ", later) == []
    empty = ExchangeFilter(since=world.at(10), until=world.at(5))
    assert search(session, world.admin, "pélican ", empty) == []
    assert [h.entry.subject for h in search(session, world.admin, "pélican ")] == ["Pélican"]


@POSTGRESQL
def test_the_slices_follow_the_start_whoever_writes_the_row(world, session):
    made = _add(session, world, "Héron", "", world.at(0))
    slices = text(
        "SELECT s.slices = grc_search_slices(e.start_at) FROM exchange_search s"
        " JOIN exchanges e ON e.id = s.exchange_id WHERE e.id = :id"
    )
    assert session.scalar(slices, {"id": made.id})  # written by GRC
    exchanges.update_exchange(
        session, world.alice, made.id, start=world.at(24 * 900), end=world.at(24 * 900)
    )
    assert session.scalar(slices, {"id": made.id})  # rewritten with the new start
    # A writer that leaves them out (a bulk import's own SQL): the trigger fills them.
    session.execute(text("DELETE FROM exchange_search WHERE exchange_id = :id"), {"id": made.id})
    session.execute(
        text("INSERT INTO exchange_search (exchange_id, names, document) VALUES (:id, '', '')"),
        {"id": made.id},
    )
    assert session.scalar(slices, {"id": made.id})
    # A new start moves them even if nothing rewrites the search row.
    session.execute(
        text("UPDATE exchanges SET start_at = start_at - interval '3 years' WHERE id = :id"),
        {"id": made.id},
    )
    assert session.scalar(slices, {"id": made.id})
