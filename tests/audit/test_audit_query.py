"""grc_core.queries.audit: filters, signed cursors, and what each reader may see."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from grc_core.errors import NotFound, PermissionDenied, ValidationError
from grc_core.models import Event
from grc_core.queries import audit
from grc_core.queries.audit import AuditFilter, audit_events, get_event
from grc_core.queries.cursors import InvalidCursor
from grc_core.services import companies, exchanges, users

SECRETS = ("Narwhal", "Zanzibar", "Dismissal")


def read_all(session, reader, flt=None, *, limit=50, oldest_first=False) -> list:
    entries, cursor = [], None
    while True:
        page = audit_events(
            session, reader, flt, limit=limit, cursor=cursor, oldest_first=oldest_first
        )
        entries += page.entries
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def text_of(entries) -> str:
    return repr([(e.kind, e.changes) for e in entries])


def private_exchange(world, session, subject="Narwhal plan", **kw):
    return exchanges.create_exchange(
        session,
        world.alice,
        subject=subject,
        details="Zanzibar budget",
        start=world.at(),
        action="note",
        company_id=world.acme.id,
        private=True,
        **kw,
    )


def test_filters(world, session):
    companies.update_company(session, world.bob, world.other.id, name="Globex SA")
    companies.set_company_status(session, world.bob, world.other.id, "client")
    by_record = read_all(session, world.admin, AuditFilter("company", world.other.id))
    assert [e.kind for e in by_record] == [
        "company.status_changed",
        "company.updated",
        "company.created",
    ]
    assert by_record[0].actor == "bob" and by_record[-1].actor == "admin"
    by_actor = read_all(session, world.admin, AuditFilter(actor_id=world.bob.id))
    assert [e.kind for e in by_actor] == ["company.status_changed", "company.updated"]
    kinds = read_all(session, world.admin, AuditFilter(kinds=("company.updated",)))
    assert [e.changes for e in kinds] == [{"name": ["Globex", "Globex SA"]}]
    by_company = read_all(session, world.carol, AuditFilter(company_id=world.other.id))
    assert {e.kind for e in by_company} == {
        "company.created",
        "company.updated",
        "company.status_changed",
        "contact.created",
        "opportunity.created",
    }
    first = by_record[-1].occurred_at
    assert read_all(session, world.admin, AuditFilter(until=first - timedelta(seconds=1))) == []
    later = read_all(session, world.admin, AuditFilter(since=by_record[0].occurred_at))
    assert by_record[0].id in {e.id for e in later}


def test_bad_filters_are_refused(world, session):
    with pytest.raises(ValidationError, match=r"naive|timezone"):
        audit_events(session, world.admin, AuditFilter(since=datetime(2026, 1, 1)))
    with pytest.raises(ValidationError, match="record type"):
        audit_events(session, world.admin, AuditFilter(entity_id=3))
    with pytest.raises(ValidationError, match="accepted: "):
        audit_events(session, world.admin, AuditFilter(kinds=("exchange.exploded",)))
    with pytest.raises(ValidationError, match="limit"):
        audit_events(session, world.admin, limit=0)
    users.update_user(session, world.admin, "carol", active=False)
    with pytest.raises(PermissionDenied):
        audit_events(session, world.carol)


def test_pages_and_cursors(world, session):
    for n in range(7):
        companies.update_company(session, world.admin, world.acme.id, name=f"ACME {n}")
    flt = AuditFilter("company", world.acme.id)
    page = audit_events(session, world.alice, flt, limit=3)
    assert [e.changes["name"][1] for e in page.entries] == ["ACME 6", "ACME 5", "ACME 4"]
    everything = read_all(session, world.alice, flt, limit=3)
    assert len(everything) == 8 and len({e.id for e in everything}) == 8
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    # A cursor belongs to its query and its reader.
    with pytest.raises(InvalidCursor):
        audit_events(session, world.bob, flt, limit=3, cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        audit_events(session, world.alice, limit=3, cursor=page.next_cursor)
    # Tampered: its first character (six whole bits of the signed body) always changed; the
    # last ones could be replaced by what they were, or differ only in base64's spare bits.
    first = "B" if page.next_cursor[0] == "A" else "A"
    with pytest.raises(InvalidCursor):
        audit_events(session, world.alice, flt, limit=3, cursor=first + page.next_cursor[1:])


def test_reading_as_a_feed(world, session):
    flt = AuditFilter("company")
    page = audit_events(session, world.admin, flt, oldest_first=True, limit=200)
    assert page.next_cursor is None and page.resume_cursor is not None
    assert page.entries[0].id < page.entries[-1].id
    empty = audit_events(session, world.admin, flt, oldest_first=True, cursor=page.resume_cursor)
    assert empty.entries == [] and empty.resume_cursor == page.resume_cursor
    new = companies.create_company(session, world.bob, name="Initech")
    after = audit_events(session, world.admin, flt, oldest_first=True, cursor=page.resume_cursor)
    assert [(e.kind, e.entity_id) for e in after.entries] == [("company.created", new.id)]
    settled = audit_events(session, world.admin, flt, oldest_first=True, settle=timedelta(hours=1))
    assert settled.entries == []  # everything here happened less than an hour ago


def test_administration_is_for_administrators(world, session):
    users.update_user(session, world.admin, "bob", email="bob@example.com")
    for reader in (world.alice, world.bob):
        seen = read_all(session, reader)
        assert not [e for e in seen if e.kind.startswith("user.")]
        assert "bob@example.com" not in text_of(seen)
    [event] = [e for e in read_all(session, world.admin) if e.kind == "user.updated"]
    assert event.changes == {"email": [None, "bob@example.com"]}
    with pytest.raises(NotFound):
        get_event(session, world.bob, event.id)
    assert get_event(session, world.admin, event.id).id == event.id


def test_a_private_exchange_is_read_by_those_who_could_see_it(world, session):
    ex = private_exchange(world, session, assignees=[world.alice, world.bob])
    exchanges.update_exchange(session, world.alice, ex.id, subject="Narwhal plan v2")
    flt = AuditFilter("exchange", ex.id)
    for reader in (world.alice, world.bob, world.admin):
        seen = read_all(session, reader, flt)
        assert [e.kind for e in seen] == ["exchange.updated", "exchange.created"]
        assert seen[0].changes["subject"] == ["Narwhal plan", "Narwhal plan v2"]
        assert not seen[0].old_values_withheld
    assert read_all(session, world.carol, flt) == []
    assert not any(s in text_of(read_all(session, world.carol)) for s in SECRETS)


def test_shared_later_shows_only_the_new_values(world, session):
    ex = private_exchange(world, session)
    exchanges.update_exchange(session, world.alice, ex.id, subject="Narwhal plan v2")
    exchanges.update_exchange(session, world.alice, ex.id, private=False, subject="Team note")
    exchanges.update_exchange(session, world.alice, ex.id, details="Public details")
    seen = read_all(session, world.carol, AuditFilter("exchange", ex.id))
    assert [e.kind for e in seen] == ["exchange.updated", "exchange.updated"]
    latest, shared = seen
    assert shared.old_values_withheld
    assert shared.changes["subject"] == [None, "Team note"]
    assert shared.changes["private"] == [None, False]
    assert "Narwhal" not in text_of(seen)
    # Once shared, the exchange (details included) was carol's to read: the next change
    # shows her its old values.
    assert latest.changes["details"] == ["Zanzibar budget", "Public details"]
    assert not latest.old_values_withheld


def test_assigned_later_shows_only_the_new_values(world, session):
    ex = private_exchange(world, session, subject="Dismissal of Dupont")
    exchanges.update_exchange(
        session,
        world.alice,
        ex.id,
        subject="Team reorganisation",
        assignees=[world.alice, world.carol],
    )
    [event] = read_all(session, world.carol, AuditFilter("exchange", ex.id))
    assert event.old_values_withheld
    assert event.changes["subject"] == [None, "Team reorganisation"]
    assert "Dismissal" not in text_of([event])


def test_a_deleted_exchange_is_judged_on_what_it_was(world, session):
    ex = private_exchange(world, session)
    exchanges.update_exchange(session, world.alice, ex.id, subject="Narwhal plan v2")
    exchanges.delete_exchange(session, world.alice, ex.id)
    # A shared exchange recorded afterwards (it may get the same id on old SQLite files).
    exchanges.create_exchange(
        session, world.bob, subject="Shared call", start=world.at(), action="call"
    )
    seen = read_all(session, world.carol)
    assert not any(s in text_of(seen) for s in SECRETS)
    assert [e.kind for e in read_all(session, world.alice, AuditFilter("exchange", ex.id))][:3] == [
        "exchange.deleted",
        "exchange.updated",
        "exchange.created",
    ]


def test_an_event_without_audience_is_for_administrators(world, session):
    event = Event(
        actor_id=world.alice.id,
        kind="exchange.updated",
        entity_type="exchange",
        entity_id=999_999,
        company_id=None,
        changes={"subject": ["Narwhal", "x"]},
    )
    session.add(event)
    session.flush()
    with pytest.raises(NotFound):
        get_event(session, world.bob, event.id)
    assert get_event(session, world.admin, event.id).changes == {"subject": ["Narwhal", "x"]}


def test_a_page_stops_after_looking_at_enough_hidden_events(world, session, monkeypatch):
    visible = companies.create_company(session, world.bob, name="Visible")
    ex = private_exchange(world, session)
    for n in range(12):
        exchanges.update_exchange(session, world.alice, ex.id, subject=f"Narwhal {n}")
    monkeypatch.setattr(audit, "SCAN_FACTOR", 2)
    page = audit_events(session, world.carol, limit=2)
    assert page.entries == [] and page.next_cursor is not None  # 4 hidden events looked at
    seen = read_all(session, world.carol, limit=2)
    assert visible.id in {e.entity_id for e in seen if e.entity_type == "company"}
    assert not any(s in text_of(seen) for s in SECRETS)
    assert len(seen) == len(read_all(session, world.carol, limit=50))
