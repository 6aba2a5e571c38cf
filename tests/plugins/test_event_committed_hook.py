"""The ``grc_event_committed`` hook: called after commit, once per event, failures isolated."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from grc_core import facade as facade_module
from grc_core.config import Settings
from grc_core.errors import ValidationError
from grc_core.event_hooks import CommittedEvent
from grc_core.facade import Grc
from grc_core.models import Company, Event
from grc_core.plugins import Registry, hookimpl
from grc_core.services import companies, users


class Recorder:
    """A plugin keeping every event it is told of."""

    def __init__(self) -> None:
        self.seen: list[CommittedEvent] = []

    @hookimpl
    def grc_event_committed(self, event: CommittedEvent) -> None:
        self.seen.append(event)


class Failing:
    @hookimpl
    def grc_event_committed(self, event: CommittedEvent) -> None:
        raise RuntimeError(f"cannot handle {event.kind}")


def facade(url: str, *plugins: object) -> Grc:
    grc = Grc(Settings(database_url=url), registry=Registry.load(autoload=False, plugins=plugins))
    grc.upgrade()
    return grc


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def grc(fresh_url: str, recorder: Recorder) -> Iterator[Grc]:
    # The failing plugin is registered first, so pluggy calls it last: its error must not
    # stop the recorder, and the recorder's success must not hide it.
    grc = facade(fresh_url, Failing(), recorder)
    with grc.session() as s:
        users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
    recorder.seen.clear()
    yield grc
    grc.dispose()


def test_called_after_commit_once_per_event_in_order(grc, recorder, caplog):
    with grc.acting_as("admin") as work:
        company = companies.create_company(work.session, work.actor, name="ACME")
        companies.create_contact(work.session, work.actor, company.id, last_name="Durand")
        work.session.flush()
        assert recorder.seen == []  # flushed, not committed: nothing announced yet
    assert [e.kind for e in recorder.seen] == ["company.created", "contact.created"]
    first = recorder.seen[0]
    assert (first.entity_type, first.entity_id, first.company_id) == (
        "company",
        company.id,
        company.id,
    )
    assert first.changes["name"] == [None, "ACME"]
    assert recorder.seen[0].id < recorder.seen[1].id
    with pytest.raises(TypeError):
        first.changes["name"] = "x"  # type: ignore[index]  # read-only
    # The failing plugin was called for both events, and each failure was logged.
    failures = [r for r in caplog.records if "grc_event_committed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.ERROR for r in failures)


def test_nothing_is_announced_for_a_rollback(grc, recorder):
    with pytest.raises(ValidationError), grc.acting_as("admin") as work:
        companies.create_company(work.session, work.actor, name="Rolled back")
        work.session.flush()
        companies.create_company(work.session, work.actor, name="  ")  # refused
    assert recorder.seen == []
    with grc.session() as s:
        assert s.scalar(select(func.count()).select_from(Company)) == 0


def test_a_rolled_back_savepoint_takes_its_events_with_it(grc, recorder):
    with grc.acting_as("admin") as work:
        companies.create_company(work.session, work.actor, name="Kept")
        with pytest.raises(ValidationError), work.session.begin_nested():
            companies.create_company(work.session, work.actor, name="Dropped")
            work.session.flush()
            companies.create_company(work.session, work.actor, name="")
        with work.session.begin_nested():  # a released savepoint: announced with the rest
            companies.create_company(work.session, work.actor, name="Nested")
        assert recorder.seen == []
    assert [e.changes["name"][1] for e in recorder.seen] == ["Kept", "Nested"]


def test_the_change_stays_committed_when_plugins_cannot_load(fresh_url, caplog):
    grc = Grc(Settings(database_url=fresh_url))
    grc.upgrade()

    def broken(self: object) -> Registry:
        raise RuntimeError("a plugin failed to import")

    try:
        with pytest.MonkeyPatch.context() as mp:
            # What the sessions' listeners load the plugins through (Grc.registry too).
            mp.setattr(facade_module._Plugins, "registry", broken)
            with grc.session() as s:
                users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        with grc.session() as s:
            assert s.scalar(select(func.count()).select_from(Event)) == 1
        assert "cannot load the plugins" in caplog.text
    finally:
        grc.dispose()


def test_a_disposed_facade_is_not_kept_alive_by_its_listeners(fresh_url: str) -> None:
    """Its sessions' listeners hold the plugins, not the facade: once disposed and dropped,
    the facade and its engine (with its caches) are freed, however many a host makes."""
    recorder = Recorder()
    grc = facade(fresh_url, recorder)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
        companies.create_company(s, admin, name="Fournil")
    assert [e.kind for e in recorder.seen] == ["user.created", "company.created"]
    gone, engine_gone = weakref.ref(grc), weakref.ref(grc.engine)
    grc.dispose()
    del grc, s, admin  # the session (and its objects) would keep the engine, not the facade
    gc.collect()
    assert gone() is None
    assert engine_gone() is None
