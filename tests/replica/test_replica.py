"""Read-only sessions on a streaming replica; writes and fresh reads on the primary.

Replay on the replica is paused where a test must tell the two databases apart: a row
committed on the primary meanwhile is then missing on the replica, so whichever session
sees it (or not) shows which server answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from grc_core.config import Settings, load_settings
from grc_core.errors import ConfigError
from grc_core.facade import Grc
from grc_core.models import Company, User
from grc_core.queries import history, search
from grc_core.services import companies, exchanges, users

from .cluster import Replicated

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _grc(pair: Replicated) -> Grc:
    return Grc(Settings(database_url=pair.primary_url, read_url=pair.replica_url))


def an_admin(session: Session, tag: str) -> User:
    """The database's administrator; the first user (created without an actor) if none."""
    found = session.scalar(select(User).where(User.is_admin.is_(True)).limit(1))
    if found is not None:
        return found
    return users.create_user(session, None, login=f"admin{tag}", display_name="A", is_admin=True)


@contextmanager
def replay_paused(pair: Replicated) -> Iterator[None]:
    """The replica stops applying the primary's changes until the block ends."""
    replica = create_engine(pair.replica_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with replica.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
            for _ in range(500):
                if conn.scalar(text("SELECT pg_get_wal_replay_pause_state()")) == "paused":
                    break
                conn.execute(text("SELECT pg_sleep(0.01)"))
            else:
                raise AssertionError("the replica did not pause its replay")
        yield
    finally:
        with replica.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        replica.dispose()
    pair.wait_for_replay()


def _record(grc: Grc, login: int, company: int, subject: str) -> int:
    with grc.acting_as(login) as work:
        made = exchanges.create_exchange(
            work.session,
            work.actor,
            subject=subject,
            details=f"compte rendu {subject}",
            start=T0,
            action="call",
            company_id=company,
        )
        work.session.flush()
        return made.id


def _in_recovery(session: Session) -> bool:
    """Whether the server answering ``session`` is a standby."""
    return bool(session.scalar(text("SELECT pg_is_in_recovery()")))


def test_read_only_sessions_are_served_by_the_replica(replicated: Replicated) -> None:
    with _grc(replicated) as grc:
        assert grc.read_engine is not grc.engine
        with grc.session(read_only=True) as s:
            assert _in_recovery(s)
        with grc.session() as s:
            assert not _in_recovery(s)
        with grc.session(read_only=True, primary=True) as s:
            assert not _in_recovery(s)
    with Grc.from_url(replicated.primary_url) as plain:  # no read_url: one database
        assert plain.read_engine is plain.engine
        with plain.session(read_only=True) as s:
            assert not _in_recovery(s)


def test_a_write_reaches_histories_and_search_on_the_replica_once_replayed(
    replicated: Replicated, people: dict[str, int]
) -> None:
    word = f"zephyr{uuid.uuid4().hex[:8]}"
    with _grc(replicated) as writer, _grc(replicated) as reader:
        with replay_paused(replicated):
            made = _record(writer, people["alice"], people["acme"], word)
            with reader.acting_as(people["bob"], read_only=True) as work:
                assert _in_recovery(work.session)
                page = history.company_history(work.session, work.actor, people["acme"])
                assert made not in [e.id for e in page.entries]
                assert search.search(work.session, work.actor, word) == []
            with reader.acting_as(people["bob"], read_only=True, primary=True) as work:
                page = history.company_history(work.session, work.actor, people["acme"])
                assert made in [e.id for e in page.entries]
        # Replay resumed and caught up (pg_last_wal_replay_lsn): the replica answers it.
        with reader.acting_as(people["bob"], read_only=True) as work:
            assert _in_recovery(work.session)
            page = history.company_history(work.session, work.actor, people["acme"])
            assert made in [e.id for e in page.entries]
            hits = search.search(work.session, work.actor, word)
            assert [h.entry.id for h in hits] == [made]
            listed = users.list_users(work.session)
            assert people["alice"] in [u.id for u in listed]


def test_a_user_reads_their_own_writes_from_the_primary(
    replicated: Replicated, people: dict[str, int]
) -> None:
    with _grc(replicated) as grc, replay_paused(replicated):
        made = _record(grc, people["alice"], people["acme"], "relance")
        with grc.acting_as(people["alice"], read_only=True) as work:
            assert not _in_recovery(work.session)  # within the window: the primary
            page = history.company_history(work.session, work.actor, people["acme"])
            assert made in [e.id for e in page.entries]
        alice_login = grc_login(grc, people["alice"])
        with grc.acting_as(alice_login.upper(), read_only=True) as work:
            assert not _in_recovery(work.session)  # named by login: the same user
        with grc.acting_as(people["bob"], read_only=True) as work:
            assert _in_recovery(work.session)  # bob wrote nothing: the replica
            page = history.company_history(work.session, work.actor, people["acme"])
            assert made not in [e.id for e in page.entries]
        grc.read_your_writes_window = 0.0  # the window has passed
        with grc.acting_as(people["alice"], read_only=True) as work:
            assert _in_recovery(work.session)


def grc_login(grc: Grc, user_id: int) -> str:
    with grc.session(read_only=True, primary=True) as s:
        return str(
            s.execute(text("SELECT login FROM users WHERE id = :i"), {"i": user_id}).scalar()
        )


def test_writes_go_to_the_primary_and_the_replica_refuses_them(
    replicated: Replicated, people: dict[str, int]
) -> None:
    name = f"Initech {uuid.uuid4().hex[:6]}"
    with _grc(replicated) as grc:
        with grc.acting_as(people["admin"]) as work:
            assert not _in_recovery(work.session)
            companies.create_company(work.session, work.actor, name=name)
        # A write slipped into a read-only session is refused by the replica itself (the
        # admin's window is closed first: their reads would go to the primary otherwise).
        grc.read_your_writes_window = 0.0
        with (
            pytest.raises(DBAPIError, match="read-only transaction"),
            grc.acting_as(people["admin"], read_only=True) as work,
        ):
            companies.create_company(work.session, work.actor, name=name + " bis")
            work.session.flush()
    replicated.wait_for_replay()
    with _grc(replicated) as grc, grc.session(read_only=True) as s:
        names = set(
            s.scalars(text("SELECT name FROM companies WHERE name LIKE :n"), {"n": name + "%"})
        )
        assert names == {name}
        assert s.get(Company, -1) is None


def test_read_url_comes_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[grc]\ndatabase_url = "postgresql://p@primary/grc"\n'
        'read_url = "postgresql://p@replica/grc"\n'
    )
    assert load_settings(config, environ={}).read_url == "postgresql://p@replica/grc"
    env = {"GRC_READ_URL": "postgresql://p@other/grc"}
    assert load_settings(config, environ=env).read_url == "postgresql://p@other/grc"
    assert load_settings(None, environ={"GRC_CONFIG": str(config)}).read_url.endswith("replica/grc")


def test_read_url_must_be_a_postgresql_replica_of_a_postgresql_primary(
    tmp_path: Path, replicated: Replicated
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'grc.sqlite3'}"
    with pytest.raises(ConfigError, match="only for PostgreSQL"):
        Grc(Settings(database_url=sqlite_url, read_url=replicated.replica_url))
    replica_file = tmp_path / "replica.sqlite3"
    with pytest.raises(ConfigError, match="is not a PostgreSQL database"):
        Grc(Settings(database_url=replicated.primary_url, read_url=f"sqlite:///{replica_file}"))
    assert not replica_file.exists()  # refused before anything was created
    with pytest.raises(ConfigError, match="invalid database URL"):
        Grc(Settings(database_url=replicated.primary_url, read_url="postgresql://h:port/x"))
