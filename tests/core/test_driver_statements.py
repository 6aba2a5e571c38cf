"""Statements on the driver's cursor: the same rows read and written as through SQLAlchemy,
and SQLAlchemy's behaviour wherever it is watched or fails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Integer, bindparam, event, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from grc_core import Grc
from grc_core.driver_statements import DriverRead, DriverWrite
from grc_core.errors import ValidationError
from grc_core.loaded_rows import read_as_loaded
from grc_core.models import Event, Exchange, User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.services import companies, custom_fields, exchanges, users


def _fill(world, session) -> None:
    custom_fields.define_field(
        session, world.admin, "canal", label="Canal", type="choice", choices=["salon", "web"]
    )
    for i in range(7):
        exchanges.create_exchange(
            session, world.alice, subject=f"Échange {i}", details="détails",
            start=world.at(i), action="call", company_id=world.acme.id,
            opportunity_ids=[world.deal1.id] if i % 2 else [], private=i == 3,
            assignees=["bob", "carol"] if i == 5 else None,
            custom={"canal": "salon"} if i % 3 else {},
        )  # fmt: skip


def _pages(session, world) -> list[object]:
    """Every kind of page the driver reads: scopes, cursors, bound filters."""
    found: list[object] = []
    week = ExchangeFilter(since=world.at(1), until=world.at(6))
    for flt in (None, week, ExchangeFilter(custom={"canal": "salon"})):
        cursor = None
        while True:
            page = history.company_history(
                session, world.bob, world.acme.id, flt, limit=2, cursor=cursor
            )
            found.append(page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
    found.append(history.opportunity_history(session, world.alice, world.deal1.id).entries)
    found.append(history.global_history(session, world.admin).entries)
    return found


def test_pages_read_on_the_driver_are_those_sqlalchemy_reads(world, session, monkeypatch):
    _fill(world, session)
    # Nothing watches: the page statements never reach SQLAlchemy's execute.
    executed: list[object] = []
    real_execute = Connection.execute

    def counting(self, statement, *args, **kwargs):
        executed.append(statement)
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", counting)
    fast = _pages(session, world)
    pages_through_sqlalchemy = [s for s in executed if "exchange_timeline" in str(s)]
    assert pages_through_sqlalchemy == []
    monkeypatch.undo()

    # A host's tracing listens to the engine: the pages then go through SQLAlchemy.
    engine = session.connection().engine
    seen: list[str] = []

    def tracing(_conn, _cursor, statement, _parameters, _context, _many):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", tracing)
    try:
        slow = _pages(session, world)
    finally:
        event.remove(engine, "before_cursor_execute", tracing)
    # Watched, every page went through SQLAlchemy, and the listener saw it.
    assert sum("exchange_timeline" in s for s in seen) >= len(slow) - 1
    assert fast == slow
    entries = [e for page in fast for e in page]  # type: ignore[attr-defined]
    assert entries, "the pages hold the exchanges"
    first = entries[0]
    assert isinstance(first.uuid, UUID)
    assert first.start_at.tzinfo is UTC
    assert type(first.private) is bool
    assert any(e.assignees == ("bob", "carol") for e in entries)
    # Bob, neither author nor assignee, never sees the private exchange.
    bobs = [e.subject for page in fast[:-2] for e in page]  # type: ignore[attr-defined]
    assert "Échange 2" in bobs and "Échange 3" not in bobs


def test_a_logged_engine_logs_the_page(fresh_url, caplog):
    # Statements logged (echo, or INFO logging of sqlalchemy.engine) go through SQLAlchemy,
    # which logs them.
    grc = Grc.from_url(fresh_url)
    try:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
            acme = companies.create_company(s, admin, name="ACME", status="client")
            exchanges.create_exchange(
                s, admin, subject="logged", action="call", company_id=acme.id,
                start=datetime(2026, 1, 5, tzinfo=UTC),
            )  # fmt: skip
            ids = admin.id, acme.id
        logged = caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine")
        with logged, grc.session(read_only=True) as s:
            admin = s.get(User, ids[0])
            page = history.company_history(s, admin, ids[1])
        assert [e.subject for e in page.entries] == ["logged"]
        assert any("exchange_timeline" in r.getMessage() for r in caplog.records)
    finally:
        grc.dispose()


def test_parameters_are_checked_as_for_any_statement(world, session):
    # Beyond 64 bits: the input error GRC gives everywhere, not the driver's OverflowError.
    with pytest.raises(ValidationError):
        history.company_history(session, world.bob, 2**70)


def test_a_failed_read_is_sqlalchemys_error_and_a_lost_connection_is_invalidated(fresh_url):
    from grc_core.db import create_db_engine

    engine: Engine = create_db_engine(fresh_url)
    read = DriverRead(select(text("x")).select_from(text("missing_table")).where(
        text("x = :v").bindparams(bindparam("v", type_=Integer))
    ))  # fmt: skip
    try:
        with engine.connect() as conn:
            with pytest.raises(OperationalError if "sqlite" in fresh_url else DBAPIError) as err:
                read.rows(conn, {"v": 1})
            assert "missing_table" in str(err.value)
            assert not err.value.connection_invalidated
        if "postgresql" in fresh_url:
            with engine.connect() as conn:
                pid = conn.scalar(text("SELECT pg_backend_pid()"))
                conn.rollback()
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
                    other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                users = DriverRead(select(User.id).where(User.id == bindparam("i")))
                with pytest.raises(OperationalError) as lost:
                    users.rows(conn, {"i": 1})
                assert lost.value.connection_invalidated
                assert conn.invalidated
            with engine.connect() as conn:  # the pool replaced the dead connection
                assert conn.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()


def test_a_statement_with_an_expanding_list_goes_through_sqlalchemy(world, session):
    _fill(world, session)
    read = DriverRead(
        select(Exchange.subject)
        .where(Exchange.id.in_(bindparam("ids", expanding=True)))
        .order_by(Exchange.subject)
    )
    ids = list(session.scalars(select(Exchange.id)))[:3]
    rows = read.rows(session.connection(), {"ids": ids})
    assert [r[0] for r in rows] == sorted(
        session.scalars(select(Exchange.subject).where(Exchange.id.in_(ids)))
    )


def test_the_acting_user_read_as_loaded_is_the_orm_s_load(world, session):
    world.bob.email = "bob@example.com"
    session.flush()
    ident = world.bob.id
    session.expunge_all()
    fast = read_as_loaded(session, User, ident)
    assert fast is not None
    values = {c.key: getattr(fast, c.key) for c in User.__table__.columns}
    session.expunge_all()
    loaded = session.get(User, ident)
    assert values == {c.key: getattr(loaded, c.key) for c in User.__table__.columns}
    assert values["email"] == "bob@example.com"
    assert isinstance(values["created_at"], datetime) and values["created_at"].tzinfo is UTC
    assert read_as_loaded(session, User, ident + 10_000) is None


def test_cursor_dates_are_bound_as_the_column_stores_them(world, session):
    # The cursor's date goes through the column's bind conversion (text on SQLite): the
    # second page starts right after the first, to the microsecond.
    for i in range(3):
        exchanges.create_exchange(
            session, world.alice, subject=f"m{i}", action="call", company_id=world.other.id,
            start=world.at(0) + timedelta(microseconds=i),
        )  # fmt: skip
    first = history.company_history(session, world.alice, world.other.id, limit=1)
    second = history.company_history(
        session, world.alice, world.other.id, limit=2, cursor=first.next_cursor
    )
    assert [e.subject for e in first.entries + second.entries] == ["m2", "m1", "m0"]


def test_an_anonymous_bind_with_a_conversion_is_converted(world, session):
    """The picklist values a creation names, read with the count of required fields: the
    count's ``entity = 'exchange'`` is an anonymous bind whose type converts its value."""
    from grc_core.models import PicklistKind
    from grc_core.services import picklists
    from grc_core.services.exchanges import _REQUIRED_FIELDS

    custom_fields.define_field(
        session, world.admin, "budget", label="Budget", type="integer", required=True
    )
    custom_fields.define_field(session, world.admin, "source", label="Source", type="text")
    session.flush()
    read = picklists._values_read((PicklistKind.ACTION, PicklistKind.STATUS), _REQUIRED_FIELDS)
    params = {"code_0": "call", "code_1": "planned"}
    fast = read.rows(session.connection(), params)
    slow = [tuple(r) for r in session.connection().execute(read.statement, params)]
    assert [tuple(r) for r in fast] == slow
    assert {r[-1] for r in fast} == {1}  # the required field, not the optional one


def _event_row(session, ident: int) -> tuple[object, ...]:
    events = Event.__table__
    return tuple(session.connection().execute(select(events).where(events.c.id == ident)).one())[1:]


def test_an_insert_on_the_driver_writes_what_sqlalchemy_writes(world, session):
    from grc_core.services import events

    stmt = insert(Event.__table__).returning(Event.__table__.c.id)
    keys = ["occurred_at", "actor_id", "kind", "entity_type", "entity_id", "company_id",
            "fanned_out", "changes", "audience"]  # fmt: skip
    values = {
        "occurred_at": world.at(3), "actor_id": world.alice.id, "kind": "exchange.created",
        "entity_type": "exchange", "entity_id": 7, "company_id": world.acme.id,
        "fanned_out": False, "changes": {"subject": [None, "Émile"], "n": [1, 2.5]},
        "audience": {"assignee_ids": [world.bob.id], "private": True},
    }  # fmt: skip
    write = DriverWrite(stmt, column_keys=keys)
    fast = write.execute(session.connection(), values)[0][0]
    slow = session.connection().execute(stmt, values).scalar_one()
    assert isinstance(fast, int) and fast != slow
    assert _event_row(session, fast) == _event_row(session, slow)
    assert _event_row(session, fast)[0] == world.at(3)
    # The library's own insert of every event is one the driver runs (not left to SQLAlchemy).
    assert events._INSERT_EVENT._compiled.get(session.connection().dialect) is not None


def test_a_refused_insert_is_sqlalchemys_integrity_error_and_the_transaction_goes_on(
    world, session
):
    first = exchanges.create_exchange(
        session, world.alice, subject="Un", start=world.at(), action="call"
    )
    session.flush()
    row = {c.key: getattr(first, c.key) for c in Exchange.__table__.columns if c.key != "id"}
    with pytest.raises(IntegrityError), session.begin_nested():  # the same UUID
        exchanges._INSERT_EXCHANGE.execute(session.connection(), row)
    assert session.scalar(select(func.count()).select_from(Exchange)) == 1
    row["uuid"] = uuid4()
    exchanges._INSERT_EXCHANGE.execute(session.connection(), row)
    assert session.scalar(select(func.count()).select_from(Exchange)) == 2


def test_an_insert_leaving_a_python_default_to_sqlalchemy_goes_through_it(world, session):
    # occurred_at, fanned_out and changes have Python-side defaults: SQLAlchemy fills them.
    stmt = insert(Event.__table__).returning(Event.__table__.c.id)
    write = DriverWrite(stmt, column_keys=["kind", "entity_type", "entity_id"])
    ident = write.execute(
        session.connection(), {"kind": "exchange.created", "entity_type": "exchange",
                               "entity_id": 1},
    )[0][0]  # fmt: skip
    row = session.get(Event, ident)
    assert row is not None and row.changes == {} and row.fanned_out is False
    assert row.occurred_at.tzinfo is UTC
