"""``grc device`` and ``grc push keys``; failed authentications shared by every process;
the schema of revision 0007 (ids never reused on SQLite, api_tokens included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.api.conftest import ApiWorld
from tests.cli.runner import Grc

from grc_adapters.push import vapid
from grc_api import ApiSettings, create_app
from grc_core.facade import Grc as Facade
from grc_core.models import Base

from .conftest import browser

NEW_TABLES = ("devices", "device_enrolments", "push_subscriptions", "api_tokens")


@pytest.fixture
def team(fresh_url: str, tmp_path: Path) -> Grc:
    runner = Grc(fresh_url, tmp_path)
    runner.ok("db", "upgrade")
    runner.ok("user", "add", "admin", "--name", "Admin", "--admin")
    for login in ("alice", "bob"):
        runner.ok("user", "add", login, "--name", login.title(), as_="admin")
    return runner


def test_devices_from_the_command_line(team: Grc):
    printed = team.ok("device", "enrol", "alice", "--name", "Pixel 7", as_="admin")
    code, link = printed.stdout.split()
    assert len(code) == 9 and code[4] == "-"
    assert link == f"http://127.0.0.1:8000/#/enrol/{code}"
    assert "shown only once" in printed.stderr
    data = team.json("device", "enrol", "bob", "--minutes", "3", as_="bob")
    assert data["user"] == "bob" and data["link"].endswith(data["code"])
    team.fails(4, "device", "enrol", "alice", as_="bob")  # only admins enrol others
    grc = Facade.from_url(team.url)
    try:
        with browser(create_app(grc, settings=ApiSettings(credential_cache=0))) as client:
            signed = client.post("/api/v1/session/enrol", json={"code": code})
            assert signed.status_code == 200
            assert client.get("/api/v1/me").json()["login"] == "alice"
            [device] = team.json("device", "list", "alice", as_="admin")
            assert (device["name"], device["state"], device["user"]) == (
                "Pixel 7", "active", "alice",
            )  # fmt: skip
            assert team.json("device", "list", as_="bob") == []
            assert "Pixel 7" in team.ok("device", "list", "--all", as_="admin").stdout
            team.fails(3, "device", "revoke", str(device["id"]), as_="bob")
            team.ok("device", "revoke", str(device["id"]), as_="alice")
            refused = client.get("/api/v1/me")
            assert refused.json()["type"].endswith("device-revoked")
        assert team.json("device", "list", "alice", as_="admin")[0]["state"] == "revoked"
    finally:
        grc.dispose()


def test_push_keys_are_created_once(team: Grc):
    first = team.json("push", "keys")
    path = Path(first["private_key_file"])
    assert path.name == "vapid_private.pem" and path.parent.name == "grc"
    assert vapid.application_server_key({"vapid_private_key": str(path)}) == first["public_key"]
    team.fails(2, "push", "keys")
    assert team.json("push", "keys", "--force")["public_key"] != first["public_key"]
    blocker = path.parent / "a-file"
    blocker.write_text("not a folder")
    assert "cannot be written" in team.fails(2, "push", "keys", "--file", f"{blocker}/key.pem")
    assert list(path.parent.glob("*.tmp")) == []


def test_failed_authentications_are_counted_for_every_process(api_world: ApiWorld, caplog):
    """Two applications on one database stand for two workers: the limit is theirs together."""
    settings = ApiSettings(auth_failures=3, auth_window=60, shared_limiter=True)
    bad = {"Authorization": "Bearer grc_" + "y" * 40}
    first = create_app(api_world.grc, settings=settings)
    second = create_app(api_world.grc, settings=settings)
    with browser(first) as one, browser(second) as two:
        assert one.get("/api/v1/me", headers=bad).status_code == 401
        assert two.get("/api/v1/me", headers=bad).status_code == 401
        assert one.post("/api/v1/session/enrol", json={"code": "AAAA-AAAA"}).status_code == 400
        # A fourth guess, on either worker, waits; a valid but new credential too.
        assert two.get("/api/v1/me", headers=bad).status_code == 429
        blocked = one.get("/api/v1/me", headers=api_world.headers("admin"))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "y" * 40 not in caplog.text
    # A per-process limiter would have let the fourth through (each saw fewer than 3).
    alone = create_app(api_world.grc, settings=ApiSettings(auth_failures=3, auth_window=60))
    with browser(alone) as three:
        assert three.get("/api/v1/me", headers=bad).status_code == 401


def test_new_tables_never_reuse_ids(fresh_url: str):
    for name in NEW_TABLES:
        assert Base.metadata.tables[name].kwargs.get("sqlite_autoincrement"), name
    grc = Facade.from_url(fresh_url)
    try:
        grc.upgrade()
        if grc.engine.dialect.name == "sqlite":
            engine = create_engine(fresh_url)
            with engine.connect() as conn:
                for name in NEW_TABLES:
                    sql = conn.execute(
                        text("SELECT sql FROM sqlite_master WHERE type='table' AND name=:n"),
                        {"n": name},
                    ).scalar_one()
                    assert "AUTOINCREMENT" in sql, name
            engine.dispose()
    finally:
        grc.dispose()


def test_upgrading_a_0006_database_keeps_its_tokens_and_never_reuses_their_ids(fresh_url: str):
    from grc_core import schema
    from grc_core.db import create_db_engine
    from grc_core.services import api_tokens, users

    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine, "0006")
        with engine.begin() as conn:
            sql = conn.exec_driver_sql
            sql(
                "INSERT INTO users (login, display_name, is_admin, active, created_at, version) "
                "VALUES ('admin', 'Admin', true, true, CURRENT_TIMESTAMP, 1)"
            )
            for name in ("first", "second"):
                sql(
                    "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) "
                    f"SELECT id, '{name}', 'grc_x', '{name:0>64}', CURRENT_TIMESTAMP FROM users"
                )
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        from sqlalchemy.orm import Session

        with Session(engine) as session, session.begin():
            rows = session.execute(text("SELECT id, name FROM api_tokens ORDER BY id")).all()
            assert [name for _, name in rows] == ["first", "second"]
            newest = rows[-1][0]
            session.execute(text("DELETE FROM api_tokens WHERE id = :i"), {"i": newest})
            admin = users.get_user(session, "admin")
            again = api_tokens.create_token(session, admin, admin, name="third").token
            assert again.id > newest
    finally:
        engine.dispose()
