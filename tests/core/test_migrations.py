"""Alembic owns the schema: it upgrades, downgrades and matches the models on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.models import Base, PicklistKind, PicklistValue
from grc_core.services import picklists


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
    assert actions["todo"].label_fr == "A faire"
    assert actions["todo"].label_en == "To do"
    statuses = {v.code: v.is_closed for v in picklists.list_values(session, "status")}
    assert statuses == {"planned": False, "in_progress": False, "done": True, "cancelled": True}
    media = {v.code for v in picklists.list_values(session, "medium")}
    assert {"phone", "on_site", "video", "email"} <= media
    count = len(session.scalars(select(PicklistValue)).all())
    assert count == 22
