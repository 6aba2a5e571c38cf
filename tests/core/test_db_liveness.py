"""Pooled PostgreSQL connections: checked without a round trip, replaced when dead."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from grc_core import db
from grc_core.db import create_db_engine


@pytest.fixture
def pg_url(db_factory) -> str:
    return db_factory.url("postgresql")


def _count_pings(engine: Engine) -> list[int]:
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(1)
        return original(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_a_recently_used_connection_is_not_pinged(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    try:
        pings = _count_pings(engine)
        first = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == first  # the same pooled connection
        assert pings == []
    finally:
        engine.dispose()


def test_a_connection_idle_too_long_is_pinged(pg_url: str, monkeypatch) -> None:
    monkeypatch.setattr(db, "PG_PING_AFTER_IDLE", 0.0)
    engine = create_db_engine(pg_url)
    try:
        pings = _count_pings(engine)
        first = _backend_pid(engine)
        time.sleep(0.01)
        assert _backend_pid(engine) == first
        assert pings == [1]
    finally:
        engine.dispose()


def test_a_connection_ended_by_the_server_is_replaced_before_use(pg_url: str, db_factory) -> None:
    engine = create_db_engine(pg_url)
    try:
        pid = _backend_pid(engine)
        with db_factory.admin().connect() as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The server's farewell reaches the idle socket: the checkout sees it and pings.
        deadline = time.monotonic() + 5
        pool_conn = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
        while time.monotonic() < deadline and not db._has_input(pool_conn.dbapi_connection):
            time.sleep(0.02)
        new_pid = _backend_pid(engine)  # no error: the dead connection was replaced
        assert new_pid != pid
    finally:
        engine.dispose()


def test_a_callers_own_pre_ping_setting_wins(pg_url: str) -> None:
    engine = create_db_engine(pg_url, pool_pre_ping=True)
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        pings = _count_pings(engine)
        _backend_pid(engine)
        _backend_pid(engine)
        assert len(pings) >= 1  # SQLAlchemy's own pre-ping, on every checkout
    finally:
        engine.dispose()


def test_read_only_sessions_skip_begin_and_commit_on_postgresql(pg_url: str) -> None:
    from grc_core import Grc

    with Grc.from_url(pg_url) as grc:
        grc.upgrade()
        with grc.session(read_only=True) as session:
            raw = session.connection().connection.dbapi_connection
            assert raw.autocommit
            session.execute(text("SELECT 1"))
            assert raw.info.transaction_status.name == "IDLE"  # no transaction open
        # The pooled connection goes back to transactions for writers.
        with grc.session() as session:
            raw = session.connection().connection.dbapi_connection
            assert not raw.autocommit
            session.execute(text("SELECT 1"))
            assert raw.info.transaction_status.name == "INTRANS"
