"""A created exchange is written with plain INSERTs, then joins the session as if loaded.

The creation path skips the unit of work for the exchange, its links and its custom values
(the audit event too: no flush is left).  What it returns must still be the ``Exchange`` the
callers know: every attribute and relationship readable without a query, equal to what the
database holds, and tracked like a loaded exchange for the changes that follow.
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import event, inspect

from grc_core.services import custom_fields, exchanges


def _count(session, engine_event, action):
    """``action()`` and how many times ``engine_event`` (statements) or a flush happened."""
    seen: list[object] = []
    if engine_event == "flush":
        target, name = session, "after_flush"
    else:
        target, name = session.get_bind().engine, "before_cursor_execute"

    def record(*args, **kwargs):
        seen.append(args[2] if engine_event != "flush" else None)

    event.listen(target, name, record)
    try:
        result = action()
    finally:
        event.remove(target, name, record)
    return result, seen


def _rich(session, world):
    for code, kind in (("budget", "decimal"), ("visits", "integer"), ("due", "date")):
        custom_fields.define_field(session, world.admin, code, label=code.title(), type=kind)
    custom_fields.define_field(session, world.admin, "ok", label="OK", type="boolean")
    custom_fields.define_field(
        session, world.admin, "tier", label="Tier", type="choice", choices=["gold", "silver"]
    )
    session.flush()
    return exchanges.create_exchange(
        session,
        world.alice,
        subject="Revue annuelle",
        details="Ordre du jour",
        start=world.at(),
        end=world.at(2),
        action="meeting",
        company_id=world.acme.id,
        opportunity_ids=[world.deal2.id, world.deal1.id],
        contact_ids=[world.acme_contact.id],
        assignees=["carol", "bob"],
        private=True,
        custom={
            "budget": Decimal("1500.50"),
            "visits": 3,
            "due": date(2026, 4, 1),
            "ok": False,
            "tier": "gold",
        },
    )


def _view(exchange):
    return {
        "id": exchange.id,
        "uuid": exchange.uuid,
        "subject": exchange.subject,
        "details": exchange.details,
        "start": exchange.start_at,
        "end": exchange.end_at,
        "action": exchange.action.code,
        "status": exchange.status.code,
        "medium": exchange.medium,
        "category": exchange.category,
        "private": exchange.private,
        "author": exchange.author.login,
        "company": exchange.company.name,
        "assignees": [u.login for u in exchange.assignees],
        "opportunities": [o.id for o in exchange.opportunities],
        "contacts": [c.id for c in exchange.contacts],
        "custom": exchange.custom,
        "created_at": exchange.created_at,
        "updated_at": exchange.updated_at,
        "version": exchange.version,
        "origin": exchange.origin,
        "keys": (exchange.action_id, exchange.status_id, exchange.medium_id),
    }


def test_one_flush_and_the_returned_exchange_reads_without_queries(world, session):
    session.flush()
    exchange, flushes = _count(
        session,
        "flush",
        lambda: exchanges.create_exchange(
            session,
            world.alice,
            subject="Appel",
            start=world.at(),
            action="call",
            company_id=world.acme.id,
            contact_ids=[world.acme_contact.id],
        ),
    )
    assert flushes == []  # the audit event too is a plain INSERT
    state = inspect(exchange)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert exchange not in session.new and exchange not in session.dirty
    view, statements = _count(session, "statements", lambda: _view(exchange))
    assert statements == []
    assert view["version"] == 1 and view["created_at"] == view["updated_at"]
    assert view["assignees"] == ["alice"] and view["contacts"] == [world.acme_contact.id]


def test_what_is_returned_is_what_was_stored(world, session):
    exchange = _rich(session, world)
    returned = _view(exchange)
    assert returned["custom"] == {
        "budget": Decimal("1500.50"),
        "visits": 3,
        "due": date(2026, 4, 1),
        "ok": False,
        "tier": "gold",
    }
    assert returned["assignees"] == ["bob", "carol"]
    assert returned["opportunities"] == [world.deal1.id, world.deal2.id]
    session.flush()
    session.expire_all()
    stored = _view(exchanges.get_exchange(session, world.alice, exchange.id))
    assert stored == returned


def test_changes_after_creation_are_tracked_and_versioned(world, session):
    exchange = _rich(session, world)
    updated = exchanges.update_exchange(
        session,
        world.alice,
        exchange.id,
        subject="Revue reportée",
        assignees=["bob"],
        contact_ids=[],
        custom={"visits": 4, "ok": None},
        expected_version=1,
    )
    assert updated is exchange and updated.version == 2
    session.expire_all()
    stored = exchanges.get_exchange(session, world.alice, exchange.id)
    assert stored.version == 2 and stored.subject == "Revue reportée"
    assert [u.login for u in stored.assignees] == ["bob"]
    assert stored.contacts == []
    assert stored.custom["visits"] == 4 and "ok" not in stored.custom


def test_deleting_a_new_exchange_removes_its_rows(world, session):
    exchange = _rich(session, world)
    ident = exchange.id
    exchanges.delete_exchange(session, world.alice, ident, expected_version=1)
    session.expire_all()
    assert exchanges._id_of(session, exchange.uuid) is None
    assert session.get(type(exchange), ident) is None
