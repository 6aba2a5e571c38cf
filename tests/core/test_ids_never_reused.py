"""Ids are never handed out twice (defect 7): events and alerts name records by id."""

from sqlalchemy import select

from grc_core.models import Attachment, Base, Company, Event, Exchange, User
from grc_core.services import companies, exchanges, users
from grc_core.services.bulk import ExchangeRecord, import_exchanges

#: Tables whose ids events, deliveries, inbox items and other records refer to.
REFERENCED = {
    "exchanges",
    "attachments",
    "companies",
    "contacts",
    "opportunities",
    "users",
    "events",
    "deliveries",
    "notification_rules",
    "subscriptions",
    "inbox_items",
    "categories",
    "custom_fields",
    "picklist_values",
}


def new_exchange(world, subject="Appel"):
    return exchanges.create_exchange(
        world.session, world.alice, subject=subject, start=world.at(), action="call"
    )


def test_deleting_the_newest_exchange_never_frees_its_id(world, session):
    first = new_exchange(world)
    newest = new_exchange(world, "le plus récent")
    exchanges.delete_exchange(session, world.alice, newest.id)
    again = new_exchange(world, "après suppression")
    assert again.id > newest.id > first.id
    # The deletion event still designates the deleted exchange, nothing else.
    deleted = session.scalars(
        select(Event).where(Event.entity_type == "exchange", Event.entity_id == newest.id)
    ).all()
    assert [e.kind for e in deleted] == ["exchange.created", "exchange.deleted"]


def test_bulk_import_after_a_delete_never_reuses_the_id(world, session):
    newest = new_exchange(world)
    exchanges.delete_exchange(session, world.alice, newest.id)
    report = import_exchanges(
        session,
        world.admin,
        [
            ExchangeRecord(
                subject="Importé", start=world.at(), action="call", author_id=world.alice.id
            )
        ],
    )
    assert report.first_id is not None and report.first_id > newest.id
    assert session.get(Exchange, report.first_id).version == 1


def test_other_records_never_reuse_ids(world, session):
    company = companies.create_company(session, world.admin, name="Éphémère")
    session.delete(company)
    session.flush()
    assert companies.create_company(session, world.admin, name="Suivante").id > company.id
    user = users.create_user(session, world.admin, login="temp", display_name="Temp")
    session.delete(user)
    session.flush()
    assert users.create_user(session, world.admin, login="next", display_name="N").id > user.id


def test_every_referenced_table_is_autoincrement_on_sqlite(engine):
    tables = Base.metadata.tables
    assert {name for name in REFERENCED if tables[name].kwargs.get("sqlite_autoincrement")} == (
        REFERENCED
    )
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            for name in REFERENCED:
                sql = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
                ).scalar_one()
                assert "AUTOINCREMENT" in sql, name
    assert {Attachment.__tablename__, Company.__tablename__, User.__tablename__} <= REFERENCED
