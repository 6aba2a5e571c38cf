"""Search and history statements on PostgreSQL: words as parameters, a custom plan per run."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from grc_core.db import create_db_engine
from grc_core.facade import Grc
from grc_core.queries.search import search
from grc_core.services import exchanges


def test_search_words_reach_the_database_as_parameters(world, session):
    # Written into the SQL, every new word would be a new statement, planned from scratch
    # and never reused (on PostgreSQL, the words were inlined).
    exchanges.create_exchange(
        session, world.alice, subject="Zyxwortel", details="Qwvarsenal", start=world.at(0),
        action="call",
    )  # fmt: skip
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        hits = search(session, world.alice, "zyxwortel qwvarsen")
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert [h.entry.subject for h in hits] == ["Zyxwortel"]
    assert statements
    for statement, _ in statements:
        assert "zyxwortel" not in statement.lower()
        assert "qwvarsen" not in statement.lower()
    assert any("zyxwortel" in repr(parameters).lower() for _, parameters in statements)


def test_postgresql_connections_plan_each_execution_with_its_values(db_factory):
    # psycopg prepares a statement on its 5th run; PostgreSQL's generic plan of a filtered
    # history or a common word is 10-50x slower on skewed data (grc_core.db).
    url = db_factory.url("postgresql")
    engine = create_db_engine(url)
    try:
        with _outside_transactions(engine) as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()
    # A caller's own setting wins, in write transactions too, and other options are kept.
    engine = create_db_engine(
        url,
        connect_args={"options": "-c plan_cache_mode=force_generic_plan -c application_name=host"},
    )
    try:
        with _outside_transactions(engine) as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
            assert conn.scalar(text("SHOW application_name")) == "host"
        with engine.begin() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
    finally:
        engine.dispose()
    engine = create_db_engine(url, connect_args={"options": "-c application_name=host"})
    try:
        with _outside_transactions(engine) as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            assert conn.scalar(text("SHOW application_name")) == "host"
    finally:
        engine.dispose()


def _outside_transactions(engine):
    """A connection that runs each statement alone, as read-only sessions do."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def test_write_transactions_reuse_generic_plans_without_a_round_trip_more(db_factory):
    # Reads by key and plain inserts have one right plan: planning them again at every
    # execution was a quarter of a creation's database time (grc_core.db._pg_write_plans).
    grc = Grc.from_url(db_factory.url("postgresql"))
    sent: list[str] = []
    event.listen(grc.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    try:
        with grc.session() as session:
            assert session.scalar(text("SHOW plan_cache_mode")) == "auto"
            assert session.scalar(text("SHOW transaction_isolation")) == "read committed"
        # The setting went with psycopg's BEGIN: nothing else was sent.
        assert sent == ["SHOW plan_cache_mode", "SHOW transaction_isolation"]
        # It ended with the transaction: the pooled connection plans reads as before.
        with grc.session(read_only=True) as session:
            assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        with grc.session() as session:
            session.execute(text("CREATE TABLE t (x int)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with grc.session() as session:  # committed, as any write
            assert session.scalar(text("SELECT count(*) FROM t")) == 1
        # A connection's own isolation level and access mode are kept.
        serializable = grc.engine.execution_options(isolation_level="SERIALIZABLE")
        with serializable.begin() as conn:
            assert conn.scalar(text("SHOW transaction_isolation")) == "serializable"
            assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"
        with grc.engine.begin() as conn:
            assert conn.scalar(text("SHOW transaction_isolation")) == "read committed"
        # A failed statement rolls back the whole transaction, setting included.
        with grc.engine.connect() as conn:
            with pytest.raises(DBAPIError):
                conn.execute(text("SELECT 1/0"))
            conn.rollback()
            assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"
            conn.rollback()
        with _outside_transactions(grc.engine) as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        grc.engine.dispose()
