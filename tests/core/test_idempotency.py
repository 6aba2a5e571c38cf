"""Creation is idempotent on the client-supplied UUID (a phone retrying after a lost link)."""

import threading
import uuid

import pytest
from sqlalchemy import func, select

from grc_core import Grc
from grc_core.errors import Conflict, ValidationError
from grc_core.models import Event, Exchange
from grc_core.services import exchanges, users


def test_same_uuid_twice_gives_one_exchange_and_one_event(world, session):
    key = uuid.uuid4()
    args = {"subject": "Visite client", "start": world.at(), "action": "meeting", "uuid": key}
    first = exchanges.create_exchange(session, world.alice, **args)
    again = exchanges.create_exchange(session, world.alice, **args)
    assert again.id == first.id
    assert session.scalar(select(func.count()).where(Exchange.uuid == key)) == 1
    created = session.scalar(
        select(func.count()).where(Event.kind == "exchange.created", Event.entity_id == first.id)
    )
    assert created == 1


def test_uuid_as_text_is_the_same_key(world, session):
    key = uuid.uuid4()
    first = exchanges.create_exchange(
        session, world.alice, subject="a", start=world.at(), action="call", uuid=str(key).upper()
    )
    again = exchanges.create_exchange(
        session, world.alice, subject="a", start=world.at(), action="call", uuid=key
    )
    assert first.id == again.id and first.uuid == key


def test_invalid_uuid_is_refused(world, session):
    with pytest.raises(ValidationError, match="not a UUID"):
        exchanges.create_exchange(
            session, world.alice, subject="a", start=world.at(), action="call", uuid="nope"
        )


def test_uuid_of_another_author_is_a_conflict(world, session):
    key = uuid.uuid4()
    exchanges.create_exchange(
        session, world.alice, subject="a", start=world.at(), action="call", uuid=key
    )
    with pytest.raises(Conflict):
        exchanges.create_exchange(
            session, world.bob, subject="a", start=world.at(), action="call", uuid=key
        )


def test_retry_after_a_lost_commit_acknowledgement(fresh_url):
    """Two transactions (the first committed, its answer lost) give one exchange."""
    grc = Grc.from_url(fresh_url)
    try:
        grc.upgrade()
        with grc.session() as s:
            users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        key = uuid.uuid4()
        from datetime import UTC, datetime

        start = datetime(2026, 1, 5, 8, tzinfo=UTC)
        ids = []
        for _ in range(2):
            with grc.acting_as("admin") as work:
                ex = exchanges.create_exchange(
                    work.session, work.actor, subject="RDV", start=start, action="meeting", uuid=key
                )
                ids.append(ex.id)
        assert ids[0] == ids[1]
        with grc.session() as s:
            assert s.scalar(select(func.count()).select_from(Exchange)) == 1
            exchange_events = select(func.count()).where(Event.entity_type == "exchange")
            assert s.scalar(exchange_events) == 1
    finally:
        grc.dispose()


def test_concurrent_retries_create_one_exchange(fresh_url):
    """Retries racing in parallel transactions: the unique UUID decides, nobody fails."""
    from datetime import UTC, datetime

    grc = Grc.from_url(fresh_url)
    try:
        grc.upgrade()
        with grc.session() as s:
            users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        key = uuid.uuid4()
        barrier = threading.Barrier(4)
        results: list[int] = []
        errors: list[BaseException] = []

        def attempt() -> None:
            try:
                barrier.wait(timeout=10)
                with grc.acting_as("admin") as work:
                    ex = exchanges.create_exchange(
                        work.session,
                        work.actor,
                        subject="RDV",
                        start=datetime(2026, 1, 5, 8, tzinfo=UTC),
                        action="meeting",
                        uuid=key,
                    )
                    results.append(ex.id)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=attempt) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with grc.session() as s:
            assert s.scalar(select(func.count()).select_from(Exchange)) == 1
            exchange_events = select(func.count()).where(Event.entity_type == "exchange")
            assert s.scalar(exchange_events) == 1
        assert errors == []
        assert len(results) == 4 and len(set(results)) == 1
    finally:
        grc.dispose()
