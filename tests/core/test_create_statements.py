"""Creating an exchange writes what it must in as few statements as it can.

A new exchange has no index rows to delete and no custom values to read back, and its
company is already loaded: the creation path must not pay for them (each is a round trip on
every ``POST /exchanges``).  What it writes is still all there: the timeline and search rows,
the event with the whole snapshot.
"""

from sqlalchemy import event, select

from grc_core.models import Event
from grc_core.queries.history import company_history
from grc_core.queries.search import search
from grc_core.services import exchanges


def _statements(session, action):
    seen: list[str] = []
    engine = session.get_bind().engine

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, seen


def test_creation_reads_nothing_back_and_deletes_nothing(world, session):
    session.flush()
    exchange, seen = _statements(
        session,
        lambda: exchanges.create_exchange(
            session,
            world.alice,
            subject="Visite de démonstration",
            start=world.at(),
            action="call",
            company_id=world.acme.id,
            contact_ids=[world.acme_contact.id],
        ),
    )
    assert not [s for s in seen if s.startswith("delete")], seen
    assert not [s for s in seen if "from exchange_field_values" in s], seen
    assert len([s for s in seen if s.startswith("select") and "from companies" in s]) <= 1, seen
    # Everything a history, a search and the audit trail need was written all the same.
    page = company_history(session, world.alice, world.acme.id)
    assert [e.id for e in page.entries] == [exchange.id]
    assert [h.entry.id for h in search(session, world.alice, "démonstration")] == [exchange.id]
    assert [h.entry.id for h in search(session, world.alice, "Durand")] == [exchange.id]
    created = session.scalar(
        select(Event).where(Event.entity_type == "exchange", Event.entity_id == exchange.id)
    )
    assert created is not None and created.kind == "exchange.created"
    assert created.changes["custom"] == [None, {}]
    assert created.changes["company_id"] == [None, world.acme.id]
    assert exchange.custom == {}


def test_creation_with_custom_values_keeps_them(world, session):
    from grc_core.services import custom_fields

    custom_fields.define_field(session, world.admin, "budget", label="Budget", type="integer")
    exchange = exchanges.create_exchange(
        session, world.alice, subject="Budget", start=world.at(), action="call",
        company_id=world.acme.id, custom={"budget": 1200},
    )  # fmt: skip
    assert exchange.custom == {"budget": 1200}
    session.expire_all()
    assert exchanges.get_exchange(session, world.alice, exchange.id).custom == {"budget": 1200}
