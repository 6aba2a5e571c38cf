"""A private exchange is visible to its author, its assignees and administrators only."""

import pytest
from sqlalchemy import select

from grc_core.errors import ExchangeNotFound, PermissionDenied
from grc_core.models import Exchange
from grc_core.queries.exchanges import ExchangeFilter, exchanges_query, list_exchanges
from grc_core.services import exchanges
from grc_core.visibility import can_see, visible_exchanges


@pytest.fixture
def private(world, session):
    """A private exchange by alice assigned to bob; carol is a third user."""
    return exchanges.create_exchange(
        session,
        world.alice,
        subject="Négociation confidentielle",
        start=world.at(),
        action="note",
        company_id=world.acme.id,
        assignees=["bob"],
        private=True,
    )


def test_third_user_cannot_read_private_exchange_through_any_call(world, session, private):
    carol = world.carol
    with pytest.raises(ExchangeNotFound):
        exchanges.get_exchange(session, carol, private.id)
    with pytest.raises(ExchangeNotFound):
        exchanges.get_exchange(session, carol, private.uuid)
    with pytest.raises(ExchangeNotFound):
        exchanges.get_exchange(session, carol, str(private.uuid))
    for flt in (None, ExchangeFilter(company_id=world.acme.id), ExchangeFilter(private=True)):
        assert private.id not in [e.id for e in list_exchanges(session, carol, flt)]
    with pytest.raises(ExchangeNotFound):
        exchanges.update_exchange(session, carol, private.id, subject="vu")
    with pytest.raises(ExchangeNotFound):
        exchanges.complete_exchange(session, carol, private.id)
    with pytest.raises(ExchangeNotFound):
        exchanges.delete_exchange(session, carol, private.id)
    assert not can_see(carol, private)
    # Re-using its UUID must not reveal it either: it is a conflict, not a copy.
    from grc_core.errors import Conflict

    with pytest.raises(Conflict):
        exchanges.create_exchange(
            session, carol, subject="x", start=world.at(), action="note", uuid=private.uuid
        )


@pytest.mark.parametrize("reader", ["alice", "bob", "admin"])
def test_author_assignee_and_admin_can_read(world, session, private, reader):
    user = getattr(world, reader)
    assert exchanges.get_exchange(session, user, private.id).id == private.id
    assert private.id in [e.id for e in list_exchanges(session, user)]
    assert can_see(user, private)


def test_shared_exchange_is_visible_to_everyone_but_changed_by_few(world, session):
    shared = exchanges.create_exchange(
        session, world.alice, subject="Appel", start=world.at(), action="call"
    )
    assert exchanges.get_exchange(session, world.carol, shared.id).id == shared.id
    with pytest.raises(PermissionDenied):
        exchanges.update_exchange(session, world.carol, shared.id, subject="modifié")
    with pytest.raises(PermissionDenied):
        exchanges.delete_exchange(session, world.carol, shared.id)


def test_deactivated_user_sees_nothing(world, session, private):
    world.bob.active = False
    assert list_exchanges(session, world.bob) == []


def test_predicate_and_object_check_agree(world, session, private):
    shared = exchanges.create_exchange(
        session, world.carol, subject="Partagé", start=world.at(1), action="call"
    )
    everyone = [world.alice, world.bob, world.carol, world.admin]
    for user in everyone:
        in_sql = set(session.scalars(select(Exchange.id).where(visible_exchanges(user))))
        in_python = {e.id for e in (private, shared) if can_see(user, e)}
        assert in_sql & {private.id, shared.id} == in_python


def test_losing_assignment_hides_the_exchange(world, session, private):
    exchanges.update_exchange(session, world.alice, private.id, assignees=["alice"])
    with pytest.raises(ExchangeNotFound):
        exchanges.get_exchange(session, world.bob, private.id)
    assert private.id not in {
        e.id for e in session.scalars(exchanges_query(session, world.bob, None))
    }
