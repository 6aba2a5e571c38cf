"""Shared fixtures: every database test runs once on SQLite and once on PostgreSQL.

PostgreSQL is required: if it cannot be reached the PostgreSQL tests fail (never skip).
Each test session creates its own PostgreSQL database, migrated once through Alembic; each
test runs in a transaction rolled back at the end (services use savepoints inside it).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.models import User
from grc_core.services import companies, opportunities, users

# The channel contract's plain asserts report their operands, like test code. Registered here,
# before any test module imports it (the push channel's tests do, ahead of the notify ones).
pytest.register_assert_rewrite("grc_core.testing.channel_contract")

PG_ADMIN_URL = os.environ.get(
    "GRC_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASES = ["sqlite", "postgresql"]


class DatabaseFactory:
    """Creates throw-away databases (an SQLite file, or a PostgreSQL database)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg_databases: list[str] = []
        self._admin: Engine | None = None

    def admin(self) -> Engine:
        if self._admin is None:
            engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
            except Exception as exc:  # the message says what to do, the test fails
                pytest.fail(
                    f"PostgreSQL is required and unreachable at {PG_ADMIN_URL} ({exc}); "
                    "start it (see .ci/run) or set GRC_TEST_POSTGRESQL_URL",
                    pytrace=False,
                )
            self._admin = engine
        return self._admin

    def url(self, kind: str) -> str:
        name = f"grc_test_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.sqlite3')}"
        with self.admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.pg_databases.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for name in self.pg_databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def db_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture(scope="session", params=DATABASES)
def migrated_engine(
    request: pytest.FixtureRequest, db_factory: DatabaseFactory
) -> Iterator[Engine]:
    """One migrated database per kind for the whole run."""
    engine = create_db_engine(db_factory.url(request.param))
    schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    return migrated_engine


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session whose whole test is rolled back; services' savepoints nest inside it."""
    with migrated_engine.connect() as conn:
        outer = conn.begin()
        sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield sess
        finally:
            sess.close()
            outer.rollback()


@pytest.fixture(params=DATABASES)
def fresh_url(request: pytest.FixtureRequest, db_factory: DatabaseFactory) -> str:
    """The URL of a new, empty database (for tests that commit or migrate)."""
    return db_factory.url(request.param)


# --- a small world most tests share -------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class World:
    """Users, two companies, contacts and opportunities, created in the test's session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.admin = users.create_user(
            session, None, login="admin", display_name="Admin", is_admin=True
        )
        self.alice = users.create_user(session, self.admin, login="alice", display_name="Alice")
        self.bob = users.create_user(session, self.admin, login="bob", display_name="Bob")
        self.carol = users.create_user(session, self.admin, login="carol", display_name="Carol")
        self.acme = companies.create_company(session, self.admin, name="ACME", status="client")
        self.other = companies.create_company(session, self.admin, name="Globex")
        self.acme_contact = companies.create_contact(
            session, self.admin, self.acme.id, last_name="Durand", first_name="Élise"
        )
        self.other_contact = companies.create_contact(
            session, self.admin, self.other.id, last_name="Martin"
        )
        self.deal1 = opportunities.create_opportunity(
            session, self.admin, self.acme.id, title="Renouvellement"
        )
        self.deal2 = opportunities.create_opportunity(
            session, self.admin, self.acme.id, title="Extension"
        )
        self.other_deal = opportunities.create_opportunity(
            session, self.admin, self.other.id, title="Pilote"
        )

    def at(self, hours: float = 0) -> datetime:
        return T0 + timedelta(hours=hours)


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


def make_user(session: Session, admin: User, login: str) -> User:
    return users.create_user(session, admin, login=login, display_name=login.title())


def pytest_unconfigure(config: pytest.Config) -> None:
    """The suite leaves gigabytes of objects behind, and the interpreter's last collection
    at exit walked them all (a minute and a half after the summary).  Frozen, they are
    skipped: the process ends with the summary, and the system takes its memory back."""
    gc.freeze()
