"""Bulk import's fast path (``COPY``, foreign keys checked once a batch on PostgreSQL) writes
exactly what its plain path (row inserts, a trigger per key) and the services' indexing
write; a batch that fails leaves nothing once the caller rolls back; a second run imports
nothing."""

from __future__ import annotations

import pickle
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grc_core import db_rows, indexing
from grc_core.errors import DatabaseError, ValidationError
from grc_core.models import Exchange
from grc_core.queries import history
from grc_core.queries.search import search
from grc_core.services import bulk
from grc_core.services.bulk import ExchangeRecord, import_exchanges

#: Above db_rows.COPY_MIN_ROWS: the exchanges, links and index rows of one batch are copied.
COPIED = 150


def records(world: Any, n: int, word: str) -> list[ExchangeRecord]:
    out = []
    for i in range(n):
        linked = i % 3 == 0
        out.append(
            ExchangeRecord(
                subject=f"{word} reprise {i % 7}",
                details=f"Historique de l'ancien CRM, commande n° {i}, œuvre {word}",
                start=world.at(i),
                end=world.at(i) + timedelta(minutes=i % 45),
                action="call" if i % 2 else "meeting",
                status="done",
                category=None,
                author_id=world.alice.id,
                company_id=None if i % 10 == 9 else world.acme.id,
                opportunity_ids=[world.deal1.id] if linked and i % 10 != 9 else [],
                contact_ids=[world.acme_contact.id] if i % 4 == 0 and i % 10 != 9 else [],
                assignee_ids=[world.alice.id, world.bob.id] if i % 2 else None,
                private=i % 5 == 0,
                uuid=uuid.uuid4(),
            )
        )
    return out


def is_pg(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def search_rows(session: Session, ids: list[int]) -> list[tuple[Any, ...]]:
    """The full-text rows of ``ids``, as the database holds them."""
    conn = session.connection()
    if is_pg(session):
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT exchange_id, names, document::text, slices::text FROM exchange_search "
                    # Rewritten rows come back in another physical order.
                    "WHERE exchange_id = ANY(:ids) ORDER BY exchange_id"
                ),
                {"ids": ids},
            )
        ]
    # SQLite: the content of every full-text table of exchanges (not FTS5's own shadow
    # tables, whose segments depend on the order of writes).
    tables = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%' "
        "AND name LIKE 'exchange%'"
    ).scalars()
    # The test's database holds only the exchanges of the test: every row is theirs.
    rows: list[tuple[Any, ...]] = []
    for table in tables:
        rows += [(table, *r) for r in conn.exec_driver_sql(f"SELECT rowid, * FROM {table}")]
    return sorted(rows, key=repr)


def snapshot(session: Session, ids: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the import wrote for ``ids``, each exchange id replaced by its position."""
    pos = {ident: n for n, ident in enumerate(ids)}
    conn = session.connection()

    def rows(sql: str) -> list[tuple[Any, ...]]:
        found = conn.execute(text(sql), {"ids": ids} if is_pg(session) else {}).all()
        return sorted((tuple(r) for r in found), key=repr)

    where = "= ANY(:ids)" if is_pg(session) else f"IN ({', '.join(map(str, ids))})"
    shot = {
        "exchanges": rows(
            "SELECT id, start_at, end_at, action_id, status_id, medium_id, category_id, "
            f"subject, details, private, author_id, company_id, version FROM exchanges "
            f"WHERE id {where}"
        ),
        "timeline": rows(f"SELECT * FROM exchange_timeline WHERE exchange_id {where}"),
    }
    for link in ("assignees", "opportunities", "contacts"):
        shot[link] = rows(f"SELECT * FROM exchange_{link} WHERE exchange_id {where}")
    if is_pg(session):
        shot["search"] = search_rows(session, ids)
    # Exchange ids to positions: the two imports being compared got different ids.
    for name in ("exchanges", "timeline", "assignees", "opportunities", "contacts", "search"):
        if name not in shot:
            continue
        column = 3 if name == "timeline" else 0
        shot[name] = sorted(
            (tuple(pos.get(v, v) if i == column else v for i, v in enumerate(r)))
            for r in shot[name]
        )
    return shot


def test_fast_path_writes_what_the_plain_path_writes(world, session, monkeypatch):
    fast = import_exchanges(session, world.admin, records(world, COPIED, "alpha"), batch_size=500)
    # The plain path: batches below COPY_MIN_ROWS (row inserts), a trigger for each key.
    monkeypatch.setattr(bulk, "PG_KEYS_CHECKED_BY_BATCH", False)
    plain = import_exchanges(session, world.admin, records(world, COPIED, "alpha"), batch_size=10)
    assert 10 < db_rows.COPY_MIN_ROWS <= COPIED
    assert fast.imported == plain.imported == COPIED
    one, two = snapshot(session, fast.ids), snapshot(session, plain.ids)
    assert one["timeline"], "the timeline rows are written"
    assert one == two
    # Found by their words alike (the search rows themselves are compared on PostgreSQL).
    hits = {h.entry.id for h in search(session, world.admin, "alpha 42", limit=10)}
    assert hits == {fast.ids[42], plain.ids[42]}


def test_imported_index_rows_are_those_the_services_write(world, session):
    report = import_exchanges(session, world.admin, records(world, COPIED, "beta"), batch_size=500)
    before = snapshot(session, report.ids), search_rows(session, report.ids)
    # What one-by-one writes (a rename, an edit) write for the same exchanges.
    indexing.reindex(session, report.ids)
    after = snapshot(session, report.ids), search_rows(session, report.ids)
    assert before == after
    # Found by search, and in the histories.
    hits = search(session, world.admin, "beta 42", limit=10)
    assert [h.entry.id for h in hits] == [report.ids[42]]
    page = history.company_history(session, world.admin, world.acme.id, limit=200)
    assert {e.id for e in page.entries} <= set(report.ids)
    assert len(page.entries) == COPIED - COPIED // 10


def test_imported_words_are_found_by_their_beginning(world, session):
    import_exchanges(session, world.admin, records(world, COPIED, "zorglub"), batch_size=100)
    assert len(search(session, world.admin, "zorgl", limit=100)) == 100


def test_running_the_same_records_again_imports_nothing(world, session):
    batch = records(world, COPIED, "gamma")
    first = import_exchanges(session, world.admin, batch, batch_size=100)
    count = session.scalar(select(func.count()).select_from(Exchange))
    again = import_exchanges(session, world.admin, batch, batch_size=100)
    assert (first.imported, again.imported, again.skipped) == (COPIED, 0, COPIED)
    assert session.scalar(select(func.count()).select_from(Exchange)) == count


def _pg_role(session: Session) -> str | None:
    if not is_pg(session):
        return None
    return str(session.connection().exec_driver_sql("SHOW session_replication_role").scalar())


@pytest.mark.parametrize("keys_by_batch", [True, False])
def test_a_failing_batch_leaves_nothing_after_the_rollback(
    world, session, monkeypatch, keys_by_batch
):
    monkeypatch.setattr(bulk, "PG_KEYS_CHECKED_BY_BATCH", keys_by_batch)
    base_count = session.scalar(select(func.count()).select_from(Exchange))
    timeline_count = session.scalar(text("SELECT count(*) FROM exchange_timeline"))
    # A company deleted after the import loaded its tables: the second batch names it.
    gone = 999_999
    load = bulk._Lookups.load

    def load_with_a_deleted_company(s: Session) -> bulk._Lookups:
        lookups = load(s)
        lookups.companies[gone] = "Supprimée"
        return lookups

    monkeypatch.setattr(bulk._Lookups, "load", staticmethod(load_with_a_deleted_company))
    batch = records(world, COPIED, "delta")
    batch[COPIED - 1].company_id = gone
    batch[COPIED - 1].opportunity_ids = batch[COPIED - 1].contact_ids = ()
    savepoint = session.begin_nested()
    with pytest.raises((DatabaseError, IntegrityError)):
        import_exchanges(session, world.admin, batch, batch_size=100)
    savepoint.rollback()
    assert session.scalar(select(func.count()).select_from(Exchange)) == base_count
    assert session.scalar(text("SELECT count(*) FROM exchange_timeline")) == timeline_count
    assert search(session, world.admin, "delta", limit=10) == []
    # Foreign keys are checked again for whatever the caller writes next.
    assert _pg_role(session) in (None, "origin")


def test_foreign_keys_are_checked_again_after_an_import(world, session):
    import_exchanges(session, world.admin, records(world, COPIED, "epsilon"), batch_size=100)
    assert _pg_role(session) in (None, "origin")
    savepoint = session.begin_nested()
    with pytest.raises(IntegrityError):
        session.connection().execute(
            text("INSERT INTO exchange_assignees (exchange_id, user_id) VALUES (:e, :u)"),
            {"e": 2_000_000_000, "u": world.alice.id},
        )
    savepoint.rollback()


def test_records_prepared_in_a_process_write_what_the_plain_path_writes(world, session):
    ahead = import_exchanges(
        session, world.admin, records(world, COPIED, "eta"), batch_size=40, read_ahead=True
    )
    here = import_exchanges(session, world.admin, records(world, COPIED, "eta"), batch_size=40)
    assert (ahead.imported, ahead.batches) == (here.imported, here.batches) == (COPIED, 4)
    assert snapshot(session, ahead.ids) == snapshot(session, here.ids)
    hits = {h.entry.id for h in search(session, world.admin, "eta 42", limit=10)}
    assert hits == {ahead.ids[42], here.ids[42]}


def test_a_bad_record_prepared_in_a_process_stops_the_import_after_the_batches_before(
    world, session
):
    base_count = session.scalar(select(func.count()).select_from(Exchange))
    batch = records(world, COPIED, "theta")
    batch[100].action = "telepathy"
    with pytest.raises(ValidationError) as caught:
        import_exchanges(session, world.admin, batch, batch_size=40, read_ahead=True)
    assert str(caught.value) == "row 101: unknown or retired action 'telepathy'"
    assert caught.value.field == "action"
    # Rows 1-80 were written in the caller's transaction (its to roll back), no more.
    assert session.scalar(select(func.count()).select_from(Exchange)) == base_count + 80


def test_a_record_already_imported_is_skipped_even_if_it_is_now_refused(world, session):
    batch = records(world, COPIED, "iota")
    import_exchanges(session, world.admin, batch, batch_size=100)
    batch[7].action = "telepathy"  # say, an action retired since the first run
    again = import_exchanges(session, world.admin, batch, batch_size=100, read_ahead=True)
    assert (again.imported, again.skipped) == (0, COPIED)


def test_a_line_error_survives_the_trip_from_the_preparing_process():
    error = pickle.loads(pickle.dumps(bulk.ImportLineError(7, "start", "not a date")))
    assert isinstance(error, bulk.ImportLineError)
    assert (str(error), error.line, error.field) == ("line 7, field start: not a date", 7, "start")
