"""Alembic owns the schema: it upgrades, downgrades and matches the models on both databases."""

import uuid
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.models import Base, PicklistKind, PicklistValue, User
from grc_core.services import exchanges, picklists


def test_upgrade_downgrade_upgrade(fresh_url):
    engine = create_db_engine(fresh_url)
    try:
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert "exchanges" in inspect(engine).get_table_names()
        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        opts = {"compare_type": schema.compare_type, "include_name": schema.is_modelled}
        context = MigrationContext.configure(conn, opts=opts)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_first_migration_seeds_picklists_in_french_and_english(session):
    actions = {v.code: v for v in picklists.list_values(session, PicklistKind.ACTION)}
    assert {"todo", "call", "letter", "note", "meeting", "report", "email"} <= set(actions)
    assert actions["todo"].label_fr == "À faire"
    assert actions["todo"].label_en == "To do"
    statuses = {v.code: v.is_closed for v in picklists.list_values(session, "status")}
    assert statuses == {"planned": False, "in_progress": False, "done": True, "cancelled": True}
    media = {v.code for v in picklists.list_values(session, "medium")}
    assert {"phone", "on_site", "video", "email"} <= media
    count = len(session.scalars(select(PicklistValue)).all())
    assert count == 22


def _fill_0004(conn):
    """Rows written at revision 0004 (plain SQL of that revision), exchange 3 deleted."""
    sql = conn.exec_driver_sql
    action, status = (
        conn.execute(
            text("SELECT id FROM picklist_values WHERE kind = :k AND code = :c"),
            {"k": kind, "c": code},
        ).scalar_one()
        for kind, code in (("action", "call"), ("status", "planned"))
    )
    for ident, login in ((1, "alice"), (2, "bob")):
        sql(
            "INSERT INTO users (id, login, display_name, active, is_admin)"
            f" VALUES ({ident}, '{login}', '{login.title()}', true, false)"
        )
    sql("INSERT INTO companies (id, name, status) VALUES (1, 'ACME', 'client')")
    start = "2026-03-02 09:00:00"
    for ident, subject in ((1, "Appel narvalo"), (2, "Réunion"), (3, "Supprimé")):
        conn.execute(
            text(
                "INSERT INTO exchanges (id, uuid, start_at, end_at, action_id, status_id, subject,"
                " details, private, author_id, company_id) VALUES (:id, :uuid, :s, :s, :a, :st,"
                " :subject, '', false, 1, 1)"
            ),
            {"id": ident, "uuid": uuid.uuid4().hex, "s": start, "a": action, "st": status}
            | {"subject": subject},
        )
        sql(f"INSERT INTO exchange_assignees (exchange_id, user_id) VALUES ({ident}, 2)")
        sql(
            "INSERT INTO events (occurred_at, kind, entity_type, entity_id, company_id, changes,"
            f" fanned_out) VALUES ('{start}', 'exchange.created', 'exchange', {ident}, 1, '{{}}',"
            " false)"
        )
    sql(
        "INSERT INTO exchange_timeline (scope, scope_id, start_at, exchange_id)"
        f" VALUES ('c', 1, '{start}', 1)"
    )
    if conn.dialect.name == "sqlite":
        sql(
            "INSERT INTO exchange_fts (rowid, subject, details, names)"
            " VALUES (1, 'Appel narvalo', '', 'ACME')"
        )
    else:  # the ids above were given explicitly: move the sequences past them, as use would
        for table in ("users", "companies", "exchanges"):
            sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    sql("DELETE FROM exchange_assignees WHERE exchange_id = 3")
    sql("DELETE FROM exchanges WHERE id = 3")


def test_upgrading_a_0004_database_keeps_its_rows_and_retires_deleted_ids(fresh_url):
    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine, "0004")
        with engine.begin() as conn:
            _fill_0004(conn)
        schema.upgrade(engine, "0005")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, subject, version, origin FROM exchanges ORDER BY id"
            ).all()
            assert [tuple(r) for r in rows] == [
                (1, "Appel narvalo", 1, None),
                (2, "Réunion", 1, None),
            ]
            assert conn.exec_driver_sql("SELECT count(*) FROM exchange_assignees").scalar() == 2
            assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 3
            assert conn.exec_driver_sql("SELECT count(*) FROM exchange_timeline").scalar() == 1
            assert conn.exec_driver_sql("SELECT min(version) FROM users").scalar() == 1
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                hits = conn.exec_driver_sql(
                    "SELECT rowid FROM exchange_fts WHERE exchange_fts MATCH 'narvalo'"
                ).all()
                assert [h[0] for h in hits] == [1]
                indexes = {
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                    )
                }
                assert {"ix_events_pending", "ix_exchanges_start", "ix_companies_name"} <= indexes
            # Exchange 2 was the newest one left; 3, deleted before the upgrade, is still named
            # by an event and must not come back.
            conn.exec_driver_sql("DELETE FROM exchange_assignees WHERE exchange_id = 2")
            conn.exec_driver_sql("DELETE FROM exchanges WHERE id = 2")
            conn.commit()
        schema.upgrade(engine)
        with Session(engine) as session:
            alice = session.get(User, 1)
            created = exchanges.create_exchange(
                session,
                alice,
                subject="Nouveau",
                start=datetime(2026, 3, 3, tzinfo=UTC),
                action="call",
            )
            session.commit()
            assert created.id == 4
            assert created.version == 1
    finally:
        engine.dispose()


def _todo_label(conn, code="todo"):
    return conn.execute(
        text("SELECT label_fr FROM picklist_values WHERE kind = 'action' AND code = :c"),
        {"c": code},
    ).scalar_one()


def test_0009_corrects_the_old_seeded_todo_label_only(fresh_url):
    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine, "0008")
        with engine.begin() as conn:
            # A database seeded before the spelling fix, and an administrator's own label.
            conn.execute(
                text("UPDATE picklist_values SET label_fr = 'A faire' WHERE code = 'todo'")
            )
            conn.execute(
                text("UPDATE picklist_values SET label_fr = 'A faire' WHERE code = 'call'")
            )
        schema.upgrade(engine, "0009")
        with engine.connect() as conn:
            assert _todo_label(conn) == "À faire"
            # Same text on another action: not the seeded todo label, left alone.
            assert _todo_label(conn, "call") == "A faire"
        with engine.begin() as conn:
            conn.execute(text("UPDATE picklist_values SET label_fr = 'Tâche' WHERE code = 'todo'"))
        schema.downgrade(engine, "0008")
        with engine.connect() as conn:
            assert _todo_label(conn) == "Tâche"
        schema.upgrade(engine, "0009")
        with engine.connect() as conn:
            # The administrator's label survives the upgrade.
            assert _todo_label(conn) == "Tâche"
        assert schema.current_revision(engine) == "0009"
    finally:
        engine.dispose()


def test_0014_adds_the_choice_rows_of_exchanges_linked_to_no_company(fresh_url):
    from grc_core.services import companies, custom_fields, users

    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as s, s.begin():
            admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
            custom_fields.define_field(
                s, admin, "channel", label="Canal", type="choice", choices=["salon", "web"]
            )
            acme = companies.create_company(s, admin, name="ACME")
            at = datetime(2026, 3, 2, 9, tzinfo=UTC)
            for subject, company, channel in (
                ("global salon", None, "salon"),
                ("global none", None, None),
                ("acme salon", acme.id, "salon"),
            ):
                exchanges.create_exchange(
                    s, admin, subject=subject, start=at, action="call", company_id=company,
                    custom={"channel": channel} if channel else None,
                )  # fmt: skip
        rows = text(
            "SELECT e.subject, t.value FROM exchange_timeline_choices t"
            " JOIN exchanges e ON e.id = t.exchange_id WHERE t.scope = 'g' AND t.scope_id = 0"
        )
        with engine.connect() as conn:
            written = conn.execute(rows).all()
        assert written == [("global salon", "salon")]
        schema.downgrade(engine, "0013")
        with engine.connect() as conn:
            assert conn.execute(rows).all() == []
        schema.upgrade(engine, "0014")
        with engine.connect() as conn:
            # The same rows as the services write, for the exchanges recorded before.
            assert conn.execute(rows).all() == written
            other = "SELECT count(*) FROM exchange_timeline_choices WHERE scope <> 'g'"
            # Left as they were: acme's company and user rows, the global one's user row.
            assert conn.execute(text(other)).scalar() == 3
    finally:
        engine.dispose()
