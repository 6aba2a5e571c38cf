"""Search and history statements on PostgreSQL: words as parameters, a custom plan per run."""

from __future__ import annotations

from sqlalchemy import event, text

from grc_core.db import create_db_engine
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
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()
    # A caller's own setting wins, and other options are kept.
    engine = create_db_engine(
        url, connect_args={"options": "-c plan_cache_mode=auto -c application_name=host"}
    )
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"
            assert conn.scalar(text("SHOW application_name")) == "host"
    finally:
        engine.dispose()
    engine = create_db_engine(url, connect_args={"options": "-c application_name=host"})
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            assert conn.scalar(text("SHOW application_name")) == "host"
    finally:
        engine.dispose()
