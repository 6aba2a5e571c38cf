"""A creation's audit event is a plain INSERT: the commit announcer still hears of it.

The event is not an ORM object, so no flush reports it to ``after_flush``; the services tell
the announcer themselves (:func:`grc_core.event_hooks.written`).  It must be announced once,
after the commit, with what was stored, and never when its transaction or savepoint rolls
back; a session nobody watches keeps nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from tests.plugins.test_event_committed_hook import Recorder

from grc_core import event_hooks
from grc_core.config import Settings
from grc_core.errors import NotFound
from grc_core.facade import Grc
from grc_core.models import Event
from grc_core.plugins import Registry
from grc_core.services import companies, exchanges, users

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Refused(Exception):
    """Raised by a test to roll its transaction back."""


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def grc(fresh_url: str, recorder: Recorder) -> Iterator[Grc]:
    grc = Grc(
        Settings(database_url=fresh_url), registry=Registry.load(autoload=False, plugins=[recorder])
    )
    grc.upgrade()
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        users.create_user(s, admin, login="alice", display_name="Alice")
        companies.create_company(s, admin, name="ACME")
    recorder.seen.clear()
    yield grc
    grc.dispose()


def _create(work: object, subject: str, **extra: object) -> int:
    exchange = exchanges.create_exchange(
        work.session,  # type: ignore[attr-defined]
        work.actor,  # type: ignore[attr-defined]
        subject=subject,
        start=T0,
        action="call",
        company_id=1,
        **extra,  # type: ignore[arg-type]
    )
    return exchange.id


def test_announced_once_after_commit_as_stored(grc, recorder):
    with grc.acting_as("alice") as work:
        ident = _create(work, "Appel")
        assert not [o for o in work.session if isinstance(o, Event)]  # no ORM event
        work.session.flush()  # a flush (of nothing) does not announce it either
        assert recorder.seen == []
    assert [(e.kind, e.entity_id) for e in recorder.seen] == [("exchange.created", ident)]
    announced = recorder.seen[0]
    with grc.session() as s:
        stored = s.scalar(
            select(Event).where(Event.entity_type == "exchange", Event.entity_id == ident)
        )
        assert stored is not None
        assert announced.id == stored.id
        assert announced.occurred_at == stored.occurred_at
        assert (announced.actor_id, announced.company_id) == (stored.actor_id, 1)
        assert dict(announced.changes) == stored.changes
        assert announced.audience is not None and dict(announced.audience) == stored.audience
        assert stored.changes["subject"] == [None, "Appel"] and not stored.fanned_out
    with pytest.raises(TypeError):
        announced.changes["subject"] = "x"  # type: ignore[index]  # read-only
    # A later commit of the same facade announces nothing again.
    with grc.acting_as("alice"):
        pass
    assert len(recorder.seen) == 1


def test_not_announced_when_the_transaction_rolls_back(grc, recorder):
    with pytest.raises(Refused), grc.acting_as("alice") as work:
        _create(work, "Annulé")
        raise Refused
    assert recorder.seen == []
    with grc.acting_as("alice") as work:
        _create(work, "Gardé")
    assert [e.changes["subject"][1] for e in recorder.seen] == ["Gardé"]


def test_a_rolled_back_savepoint_takes_the_creation_event_with_it(grc, recorder):
    with grc.acting_as("alice") as work:
        _create(work, "Avant")
        with pytest.raises(Refused), work.session.begin_nested():
            _create(work, "Abandonné")
            raise Refused
        with work.session.begin_nested():  # released: announced with the rest
            _create(work, "Imbriqué")
        # A client's UUID takes the path with a savepoint around the insert.
        _create(work, "Avec UUID", uuid="5b0d1c4e-8f0a-4d5e-9a57-3c1f2e6b7a10")
        assert recorder.seen == []
    assert [e.changes["subject"][1] for e in recorder.seen] == ["Avant", "Imbriqué", "Avec UUID"]


def test_with_flushed_events_every_event_once_in_id_order(grc, recorder):
    with grc.acting_as("admin") as work:
        companies.create_company(work.session, work.actor, name="Globex")  # an ORM event
        work.session.flush()
        _create(work, "Entre deux")
        companies.create_company(work.session, work.actor, name="Initech")  # flushed at commit
    assert [e.kind for e in recorder.seen] == [
        "company.created",
        "exchange.created",
        "company.created",
    ]
    ids = [e.id for e in recorder.seen]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_a_session_nobody_watches_keeps_nothing(world, session):
    exchanges.create_exchange(
        session, world.alice, subject="Seul", start=world.at(), action="call",
        company_id=world.acme.id,
    )  # fmt: skip
    assert not session.info.get(event_hooks._PENDING)
    created = session.scalar(select(Event).where(Event.kind == "exchange.created"))
    assert created is not None and created.changes["subject"] == [None, "Seul"]


def _columns(company: object) -> dict[str, object]:
    return {c.key: getattr(company, c.key) for c in inspect(company).mapper.column_attrs}


def test_the_company_read_for_a_creation_is_as_loaded(world, session):
    session.flush()
    ident = world.acme.id
    session.expunge_all()  # the company is not in the session: read by the creation
    actor = session.get(type(world.alice), world.alice.id)
    exchange = exchanges.create_exchange(
        session, actor, subject="Visite", start=world.at(), action="call", company_id=ident
    )
    company = exchange.company
    state = inspect(company)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert session.get(type(company), ident) is company  # the session's own copy
    read = _columns(company)
    # What a load of the row gives, attribute by attribute (enum and dates typed alike).
    session.expunge(company)
    session.expunge(exchange)
    loaded = session.get(type(company), ident)
    assert loaded is not company and read == _columns(loaded)
    # The relationships left out are read when first used, as after a load.
    assert [c.last_name for c in loaded.contacts] == ["Durand"]


def test_a_company_the_session_holds_is_the_one_linked(world, session):
    session.flush()
    held = world.acme
    exchange = exchanges.create_exchange(
        session, world.alice, subject="Visite", start=world.at(), action="call",
        company_id=held.id,
    )  # fmt: skip
    assert exchange.company is held


def test_an_unknown_company_is_not_found(world, session):
    with pytest.raises(NotFound):
        exchanges.create_exchange(
            session, world.alice, subject="Nulle part", start=world.at(), action="call",
            company_id=world.acme.id + 1000,
        )  # fmt: skip
