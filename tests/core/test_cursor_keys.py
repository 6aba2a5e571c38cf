"""The cursor signing key: per installation, rotatable, picked up by running processes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cli.runner import Grc
from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.models import User
from grc_core.queries import cursors, history
from grc_core.queries.cursors import InvalidCursor
from grc_core.services import companies, exchanges, users

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _installation(url: str) -> tuple[Engine, int]:
    """A migrated database with a company and three exchanges; returns (engine, company id)."""
    engine = create_db_engine(url)
    schema.upgrade(engine)
    with Session(engine) as session, session.begin():
        admin = users.create_user(session, None, login="admin", display_name="A", is_admin=True)
        company = companies.create_company(session, admin, name="ACME")
        for hours in range(3):
            exchanges.create_exchange(
                session,
                admin,
                subject=f"Appel {hours}",
                start=T0 + timedelta(hours=hours),
                action="call",
                company_id=company.id,
            )
        return engine, company.id


def _page(engine: Engine, company_id: int, cursor: str | None = None) -> history.Page:
    with Session(engine) as session, session.begin():
        admin = session.query(User).filter_by(login="admin").one()
        return history.company_history(session, admin, company_id, limit=1, cursor=cursor)


def _rotate(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        cursors.rotate_key(session)


def test_rotation_refuses_the_cursors_signed_before(fresh_url):
    engine, company = _installation(fresh_url)
    try:
        first = _page(engine, company)
        assert [e.subject for e in _page(engine, company, first.next_cursor).entries] == ["Appel 1"]
        _rotate(engine)
        with pytest.raises(InvalidCursor, match="rotated"):
            _page(engine, company, first.next_cursor)
        again = _page(engine, company)
        assert again.next_cursor != first.next_cursor
        assert [e.subject for e in _page(engine, company, again.next_cursor).entries] == ["Appel 1"]
    finally:
        engine.dispose()


def test_a_running_process_picks_the_new_key_up_after_the_refresh_delay(fresh_url, monkeypatch):
    admin_engine, company = _installation(fresh_url)
    server = create_db_engine(fresh_url)  # another process: its own engine, its own cached key
    try:
        monkeypatch.setattr(cursors, "KEY_REFRESH_SECONDS", 3600.0)
        old = _page(server, company).next_cursor
        _rotate(admin_engine)
        # Within the delay the running process still uses the key it read...
        assert _page(server, company, old).entries
        # ...and once its copy is older than the delay, it reads the new one.
        monkeypatch.setattr(cursors, "KEY_REFRESH_SECONDS", 0.2)
        time.sleep(0.25)
        with pytest.raises(InvalidCursor, match="rotated"):
            _page(server, company, old)
        fresh = _page(admin_engine, company).next_cursor
        assert _page(server, company, fresh).entries
    finally:
        server.dispose()
        admin_engine.dispose()


def test_a_cursor_from_another_installation_is_refused(fresh_url, db_factory):
    kind = "postgresql" if fresh_url.startswith("postgresql") else "sqlite"
    one, company = _installation(fresh_url)
    two, other_company = _installation(db_factory.url(kind))
    try:
        assert company == other_company  # same ids, same query fingerprint...
        cursor = _page(one, company).next_cursor
        with pytest.raises(InvalidCursor, match="not issued by this installation"):
            _page(two, company, cursor)  # ...but another key
        assert _page(one, company, cursor).entries
    finally:
        one.dispose()
        two.dispose()


def test_grc_db_rotate_cursor_key(fresh_url: str, tmp_path: Path):
    grc = Grc(fresh_url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    company = str(grc.json("company", "add", "ACME", as_="admin")["id"])
    for hours in ("10:00", "11:00"):
        grc.ok(
            "exchange",
            "add",
            "--subject",
            "Appel",
            "--start",
            f"2026-03-02T{hours}",
            "--action",
            "call",
            "--company",
            company,
            as_="admin",
        )
    walk = ("history", "company", company, "--limit", "1")
    cursor = grc.json(*walk, as_="admin")["next_cursor"]
    assert grc.run("db", "rotate-cursor-key", input="n\n").exit_code != 0  # declined
    assert grc.json(*walk, "--cursor", cursor, as_="admin")["entries"]
    result = grc.ok("--json", "db", "rotate-cursor-key", "--yes")
    assert '"rotated": true' in result.stdout
    assert "refuse older cursors" in result.stderr
    message = grc.fails(2, *walk, "--cursor", cursor, as_="admin")
    assert "rotated" in message and "first page" in message
