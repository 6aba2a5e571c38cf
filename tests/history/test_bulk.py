"""Bulk import: the same rules as one-by-one creation, indexes written, one event per batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from grc_core.errors import PermissionDenied, ValidationError
from grc_core.models import Event, Exchange
from grc_core.queries import history
from grc_core.queries.search import search
from grc_core.services.bulk import ExchangeRecord, import_exchanges


def record(world, i, **kw):
    args = {
        "subject": f"Échéance importée {i}",
        "details": "Historique repris de l'ancien CRM",
        "start": world.at(i),
        "action": "call",
        "author_id": world.alice.id,
    }
    return ExchangeRecord(**(args | kw))


def test_imported_exchanges_are_indexed_and_audited_per_batch(world, session):
    records = [
        record(world, i, company_id=world.acme.id, opportunity_ids=[world.deal1.id],
               contact_ids=[world.acme_contact.id], assignee_ids=[world.alice.id, world.bob.id],
               private=i % 5 == 0, end=world.at(i) + timedelta(minutes=30))
        for i in range(23)
    ]  # fmt: skip
    seen: list[int] = []
    report = import_exchanges(session, world.admin, records, batch_size=10, progress=seen.append)
    assert (report.imported, report.batches, seen) == (23, 3, [10, 20, 23])
    page = history.company_history(session, world.carol, world.acme.id, limit=100)
    assert len(page.entries) == 23 - 5  # carol does not see the private ones
    assert page.entries[0].subject == "Échéance importée 22"
    assert page.entries[0].assignees == ("alice", "bob")
    assert (
        len(history.opportunity_history(session, world.bob, world.deal1.id, limit=100).entries)
        == 23
    )
    assert len(history.user_history(session, world.admin, world.bob.id, limit=100).entries) == 23
    assert len(search(session, world.carol, "echeance importee", limit=100)) == 18
    kinds = session.scalars(select(Event.kind).where(Event.kind.like("exchange.%"))).all()
    assert kinds == ["exchange.imported"] * 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": None}, "must be a date-time"),
        ({"action": "fax"}, "unknown or retired action 'fax'"),
        ({"subject": ""}, "subject is required"),
        ({"company_id": 10**6}, "no company"),
        ({"opportunity_ids": [1]}, "global exchange"),
        ({"assignee_ids": []}, "at least one assigned user"),
        ({"author_id": 10**6}, "no active user"),
        ({"category": "nope"}, "unknown or retired category"),
    ],
)
def test_bad_rows_are_refused_with_their_number(world, session, change, message):
    records = [record(world, 0), record(world, 1, **change)]
    with pytest.raises(ValidationError, match=message) as err:
        import_exchanges(session, world.admin, records)
    assert "row 2" in str(err.value)


def test_links_must_belong_to_the_company(world, session):
    bad = record(world, 0, company_id=world.acme.id, opportunity_ids=[world.other_deal.id])
    with pytest.raises(ValidationError, match=r"row 1: opportunity .* does not belong"):
        import_exchanges(session, world.admin, [bad])


def test_only_administrators_import(world, session):
    with pytest.raises(PermissionDenied):
        import_exchanges(session, world.alice, [record(world, 0)])
    assert session.scalar(select(func.count()).select_from(Exchange)) == 0
