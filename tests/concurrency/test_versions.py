"""Optimistic concurrency in the library: versions, expected versions, lost updates."""

import pytest
from sqlalchemy import insert, select, update

from grc_core.errors import Conflict, ValidationError, VersionConflict
from grc_core.models import Event, Exchange, ExchangeFieldValue
from grc_core.services import custom_fields, exchanges
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict


def new_exchange(world, **kw):
    args = {"subject": "Appel", "start": world.at(), "action": "call", "assignees": ["alice"]}
    return exchanges.create_exchange(world.session, world.alice, **(args | kw))


def events_of(session, exchange_id):
    stmt = select(Event).where(Event.entity_type == "exchange", Event.entity_id == exchange_id)
    return list(session.scalars(stmt.order_by(Event.id)))


def test_a_new_record_is_at_version_1(world):
    assert new_exchange(world).version == 1
    assert world.alice.version == 1 and world.acme.version == 1 and world.deal1.version == 1


def test_each_update_with_the_right_version_adds_exactly_one(world, session):
    custom_fields.define_field(session, world.admin, "source", label="Source", type="text")
    ex = new_exchange(world)
    ex = exchanges.update_exchange(session, world.alice, ex.id, subject="Un", expected_version=1)
    assert ex.version == 2
    # Only links, only a custom field, several fields at once: still one step each.
    ex = exchanges.update_exchange(
        session, world.alice, ex.id, assignees=["alice", "bob"], expected_version=2
    )
    assert ex.version == 3
    ex = exchanges.update_exchange(
        session, world.alice, ex.id, custom={"source": "salon"}, expected_version=3
    )
    assert ex.version == 4 and ex.custom == {"source": "salon"}
    ex = exchanges.update_exchange(
        session,
        world.alice,
        ex.id,
        subject="Deux",
        details="détails",
        private=True,
        custom={"source": "web"},
        expected_version=4,
    )
    assert ex.version == 5 and ex.custom == {"source": "web"}
    ex = exchanges.complete_exchange(session, world.alice, ex.id, expected_version=5)
    assert ex.version == 6 and ex.status.code == "done"
    session.expire_all()
    assert session.get(Exchange, ex.id).version == 6
    exchanges.delete_exchange(session, world.alice, ex.id, expected_version=6)
    assert session.get(Exchange, ex.id) is None


def test_an_update_that_changes_nothing_keeps_the_version(world, session):
    ex = new_exchange(world)
    ex = exchanges.update_exchange(session, world.alice, ex.id, subject="Appel")
    assert ex.version == 1


@pytest.mark.parametrize("operation", ["update", "complete", "delete"])
def test_a_stale_version_is_refused_and_nothing_changes(world, session, operation):
    ex = new_exchange(world)
    exchanges.update_exchange(session, world.alice, ex.id, subject="v2")
    before = len(events_of(session, ex.id))
    call = {
        "update": lambda: exchanges.update_exchange(
            session, world.alice, ex.id, subject="perdu", expected_version=1
        ),
        "complete": lambda: exchanges.complete_exchange(
            session, world.alice, ex.id, expected_version=1
        ),
        "delete": lambda: exchanges.delete_exchange(
            session, world.alice, ex.id, expected_version=1
        ),
    }[operation]
    with pytest.raises(VersionConflict) as caught:
        call()
    error = caught.value
    assert isinstance(error, Conflict)
    assert (error.expected, error.current, error.record) == (1, 2, f"exchange {ex.id}")
    assert "reload it" in str(error) and "version 2" in str(error)
    session.expire_all()
    stored = session.get(Exchange, ex.id)
    assert stored is not None and stored.subject == "v2" and stored.version == 2
    assert stored.status.code == "planned"
    assert len(events_of(session, ex.id)) == before


@pytest.mark.parametrize("bad", [0, -3, True, "2", 1.0])
def test_an_invalid_expected_version_is_a_validation_error(world, session, bad):
    ex = new_exchange(world)
    with pytest.raises(ValidationError, match="positive integer"):
        exchanges.update_exchange(session, world.alice, ex.id, subject="x", expected_version=bad)


def test_check_version_is_silent_without_an_expectation(world):
    ex = new_exchange(world)
    check_version(ex, None, "exchange")
    check_version(ex, 1, "exchange")
    with pytest.raises(VersionConflict, match="you expected version 7, it is at version 1"):
        check_version(ex, 7, "exchange 1")


def test_a_lost_update_detected_at_flush_is_a_version_conflict(world, session):
    """A writer that skipped the lock changed the row: the ORM's check catches it."""
    ex = new_exchange(world)
    table = Exchange.__table__
    session.execute(update(table).where(table.c.id == ex.id).values(version=table.c.version + 1))
    ex.subject = "écrasé"
    with pytest.raises(VersionConflict) as caught, stale_as_conflict(ex, f"exchange {ex.id}"):
        session.flush()
    assert caught.value.expected == 1
    session.rollback()


def test_lock_for_update_reads_what_was_committed_not_the_session_copy(world, session):
    ex = new_exchange(world)
    table = Exchange.__table__
    session.execute(update(table).where(table.c.id == ex.id).values(subject="ailleurs"))
    assert ex.subject == "Appel"  # the session's copy is stale
    again = lock_for_update(session, Exchange, ex.id)
    assert again is ex and again.subject == "ailleurs"
    assert lock_for_update(session, Exchange, 10**9) is None


def test_custom_values_are_upserted_when_another_writer_set_the_field_first(world, session):
    """The value row appeared after the exchange was loaded (a writer that did not lock):
    setting the field updates that row instead of failing on the primary key."""
    field = custom_fields.define_field(session, world.admin, "source", label="S", type="text")
    ex = new_exchange(world)
    assert ex.custom == {}
    session.execute(
        insert(ExchangeFieldValue.__table__).values(
            exchange_id=ex.id, field_id=field.id, text_value="concurrent"
        )
    )
    values = custom_fields.validate_values(session, {"source": "mine"}, creating=False)
    custom_fields.apply_values(ex, values)
    session.flush()
    assert ex.custom == {"source": "mine"}
    custom_fields.apply_values(ex, {field: None})
    session.flush()
    assert ex.custom == {}
    session.expire_all()
    assert session.get(Exchange, ex.id).custom == {}
