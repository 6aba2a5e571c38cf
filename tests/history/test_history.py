"""Histories: scopes, each exchange once, visibility, filters, and keyset cursors."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from grc_core.queries import history
from grc_core.queries.cursors import InvalidCursor
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.services import categories, companies, exchanges, opportunities


def add(world, subject, hours, actor=None, **kw):
    args = {"subject": subject, "start": world.at(hours), "action": "call"} | kw
    return exchanges.create_exchange(world.session, actor or world.alice, **args)


def subjects(page):
    return [e.subject for e in page.entries]


def test_company_history_includes_linked_exchanges_exactly_once(world, session):
    own = add(world, "own", 1, company_id=world.acme.id)
    both = add(
        world, "both", 2, company_id=world.acme.id,
        opportunity_ids=[world.deal1.id, world.deal2.id], contact_ids=[world.acme_contact.id],
    )  # fmt: skip
    via_deal = add(
        world,
        "via opportunity",
        3,
        company_id=world.other.id,
        opportunity_ids=[world.other_deal.id],
    )
    via_contact = add(
        world, "via contact", 4, company_id=world.other.id, contact_ids=[world.other_contact.id]
    )
    add(world, "unrelated", 5, company_id=world.other.id)
    add(world, "global", 6)
    # The deal and the contact move to ACME: their past exchanges now belong to its history.
    opportunities.transfer_opportunity(session, world.admin, world.other_deal.id, world.acme.id)
    companies.move_contact(session, world.admin, world.other_contact.id, world.acme.id)

    page = history.company_history(session, world.bob, world.acme.id)
    assert subjects(page) == ["via contact", "via opportunity", "both", "own"]
    assert [e.id for e in page.entries] == [via_contact.id, via_deal.id, both.id, own.id]
    other = history.company_history(session, world.bob, world.other.id)
    assert subjects(other) == ["unrelated", "via contact", "via opportunity"]
    assert page.next_cursor is None


def test_private_exchanges_hidden_from_others_in_every_history(world, session):
    secret = add(
        world, "secret", 1, company_id=world.acme.id, opportunity_ids=[world.deal1.id],
        private=True, assignees=["bob"],
    )  # fmt: skip
    add(world, "shared", 2, company_id=world.acme.id, opportunity_ids=[world.deal1.id])
    for reader, sees in (
        (world.carol, False),
        (world.bob, True),
        (world.alice, True),
        (world.admin, True),
    ):
        pages = [
            history.company_history(session, reader, world.acme.id),
            history.opportunity_history(session, reader, world.deal1.id),
            history.user_history(session, reader, world.bob.id),
        ]
        for page in pages:
            assert (secret.id in [e.id for e in page.entries]) is sees, reader.login


def test_user_and_global_histories(world, session):
    mine = add(world, "authored", 1, actor=world.carol, assignees=["alice"])
    assigned = add(world, "assigned", 2, assignees=["carol"])
    add(world, "other", 3, assignees=["bob"], company_id=world.acme.id)
    assert subjects(history.user_history(session, world.admin, world.carol.id)) == [
        "assigned",
        "authored",
    ]
    assert {e.id for e in history.global_history(session, world.admin).entries} == {
        mine.id,
        assigned.id,
    }
    assert history.user_history(session, world.admin, world.carol.id).entries[0].assignees == (
        "carol",
    )


def test_filters_combine_in_histories(world, session):
    categories.add_category(session, world.admin, "commercial", label_fr="Commercial")
    categories.add_category(
        session, world.admin, "relance", label_fr="Relance", parent="commercial"
    )
    add(world, "a", 1, company_id=world.acme.id, action="meeting", category="relance")
    add(world, "b", 2, company_id=world.acme.id, action="meeting", status="done")
    add(world, "c", 3, company_id=world.acme.id, action="email", medium="email", assignees=["bob"])

    def run(**kw):
        return subjects(
            history.company_history(session, world.admin, world.acme.id, ExchangeFilter(**kw))
        )

    assert run(actions=("meeting",)) == ["b", "a"]
    assert run(category="commercial") == ["a"]
    assert run(statuses=("done",)) == ["b"]
    assert run(media=("email",), assignee_id=world.bob.id) == ["c"]
    assert run(since=world.at(2), until=world.at(3)) == ["b"]
    assert run(has_attachments=True) == []
    assert run(has_attachments=False) == ["c", "b", "a"]


def test_walking_with_cursors_while_exchanges_arrive(world, session):
    made = [add(world, f"e{i:03d}", i * 0.5, company_id=world.acme.id) for i in range(60)]
    # Same start time for several: the id breaks ties, the order stays total.
    made += [add(world, f"tie{i}", 10, company_id=world.acme.id) for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        page = history.company_history(session, world.bob, world.acme.id, limit=7, cursor=cursor)
        seen += [e.id for e in page.entries]
        pages += 1
        # New exchanges arrive between pages, newer and older than the walk's position.
        add(world, f"new-late-{pages}", 1000 + pages, company_id=world.acme.id)
        add(world, f"new-early-{pages}", -1000 - pages, company_id=world.acme.id)
        cursor = page.next_cursor
        if cursor is None:
            break
    original = {e.id for e in made}
    assert len(seen) == len(set(seen))  # no duplicate
    assert original <= set(seen)  # no gap
    ordered = [e.id for e in sorted(made, key=lambda e: (e.start_at, e.id), reverse=True)]
    assert [i for i in seen if i in original] == ordered


def test_cursors_cannot_be_forged_or_replayed(world, session):
    for i in range(4):
        add(world, f"e{i}", i, company_id=world.acme.id)
    page = history.company_history(session, world.bob, world.acme.id, limit=2)
    body, tag = page.next_cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["i"] = 10**9
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + tag
    with pytest.raises(InvalidCursor, match="bad signature"):
        history.company_history(session, world.bob, world.acme.id, limit=2, cursor=forged)
    with pytest.raises(InvalidCursor, match="another query"):
        history.company_history(
            session, world.carol, world.acme.id, limit=2, cursor=page.next_cursor
        )
    with pytest.raises(InvalidCursor, match="another query"):
        history.company_history(
            session, world.bob, world.other.id, limit=2, cursor=page.next_cursor
        )
    for junk in ["", "abc", "a.b.c", "!!!.???", "x" * 1000]:
        with pytest.raises(InvalidCursor):
            history.company_history(session, world.bob, world.acme.id, cursor=junk)


def test_updates_and_deletes_keep_the_index_in_step(world, session):
    ex = add(world, "moved", 1, company_id=world.acme.id)
    exchanges.update_exchange(session, world.alice, ex.id, company_id=world.other.id)
    assert subjects(history.company_history(session, world.admin, world.acme.id)) == []
    assert subjects(history.company_history(session, world.admin, world.other.id)) == ["moved"]
    exchanges.update_exchange(session, world.alice, ex.id, start=world.at(-5) - timedelta(days=1))
    assert (
        history.company_history(session, world.admin, world.other.id).entries[0].start_at
        == ex.start_at
    )
    exchanges.delete_exchange(session, world.alice, ex.id)
    assert history.company_history(session, world.admin, world.other.id).entries == []
