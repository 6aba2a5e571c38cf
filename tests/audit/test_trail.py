"""Every change leaves an audit event with its old and new values (SPEC R1)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from grc_core.errors import PermissionDenied
from grc_core.models import Event
from grc_core.notify import rule_admin
from grc_core.services import (
    attachments,
    categories,
    companies,
    custom_fields,
    opportunities,
    picklists,
    users,
)


def last(session, kind: str) -> Event:
    event = session.scalars(
        select(Event).where(Event.kind == kind).order_by(Event.id.desc())
    ).first()
    assert event is not None, f"no {kind} event"
    return event


def count(session, kind: str) -> int:
    return len(session.scalars(select(Event.id).where(Event.kind == kind)).all())


def test_company_creation_and_update(world, session):
    company = companies.create_company(
        session, world.alice, name="Initech", status="suspect", owner="alice", external_ref="I-1"
    )
    created = last(session, "company.created")
    assert (created.entity_type, created.entity_id, created.company_id) == (
        "company",
        company.id,
        company.id,
    )
    assert created.actor_id == world.alice.id
    assert created.changes == {
        "name": [None, "Initech"],
        "status": [None, "suspect"],
        "owner_id": [None, world.alice.id],
        "external_ref": [None, "I-1"],
    }
    companies.update_company(session, world.alice, company.id, name="Initech SA", owner="bob")
    updated = last(session, "company.updated")
    assert updated.changes == {
        "name": ["Initech", "Initech SA"],
        "owner_id": [world.alice.id, world.bob.id],
    }
    # Nothing changed: no event.
    companies.update_company(session, world.bob, company.id, name="Initech SA")
    assert count(session, "company.updated") == 1


def test_contact_creation_update_and_move(world, session):
    contact = companies.create_contact(
        session, world.bob, world.acme.id, last_name="Petit", email="p@acme.example"
    )
    created = last(session, "contact.created")
    assert (created.entity_type, created.entity_id, created.company_id) == (
        "contact",
        contact.id,
        world.acme.id,
    )
    assert created.changes == {
        "company_id": [None, world.acme.id],
        "last_name": [None, "Petit"],
        "email": [None, "p@acme.example"],
    }
    companies.update_contact(session, world.bob, contact.id, first_name="Léa", email="")
    assert last(session, "contact.updated").changes == {
        "first_name": ["", "Léa"],
        "email": ["p@acme.example", None],
    }
    companies.move_contact(session, world.admin, contact.id, world.other.id)
    moved = last(session, "contact.moved")
    assert moved.changes == {"company_id": [world.acme.id, world.other.id]}
    assert moved.company_id == world.other.id


def test_opportunity_creation_and_changes(world, session):
    deal = opportunities.create_opportunity(
        session, world.bob, world.acme.id, title="Audit", amount="1000", expected_close=None
    )
    created = last(session, "opportunity.created")
    assert created.changes == {
        "title": [None, "Audit"],
        "stage": [None, "prospecting"],
        "amount": [None, "1000.00"],
        "owner_id": [None, world.bob.id],
    }
    opportunities.update_opportunity(
        session,
        world.bob,
        deal.id,
        amount="1500",
        expected_close=date(2026, 9, 30),
        owner="carol",
    )
    assert last(session, "opportunity.updated").changes == {
        "amount": ["1000.00", "1500.00"],
        "expected_close": [None, "2026-09-30"],
        "owner_id": [world.bob.id, world.carol.id],
    }
    opportunities.transfer_opportunity(session, world.admin, deal.id, world.other.id)
    assert last(session, "opportunity.transferred").changes == {
        "company_id": [world.acme.id, world.other.id]
    }


def test_administration_is_audited(world, session):
    picklists.add_value(session, world.admin, "action", "visit", label_fr="Visite")
    assert last(session, "picklist.value_added").changes["code"] == [None, "visit"]
    picklists.set_active(session, world.admin, "action", "visit", False)
    picklists.set_active(session, world.admin, "action", "visit", False)  # no change
    assert last(session, "picklist.value_updated").changes == {"active": [True, False]}
    assert count(session, "picklist.value_updated") == 1

    categories.add_category(session, world.admin, "sav", label_fr="SAV")
    categories.add_category(session, world.admin, "sav_urgent", label_fr="Urgent", parent="sav")
    assert last(session, "category.added").changes["parent"] == [None, "sav"]
    categories.set_active(session, world.admin, "sav_urgent", False)
    assert last(session, "category.updated").changes == {"active": [True, False]}

    custom_fields.define_field(
        session, world.admin, "source", label="Source", type="choice", choices=["web", "salon"]
    )
    defined = last(session, "custom_field.defined")
    assert defined.changes["type"] == [None, "choice"]
    assert defined.changes["choices"] == [None, ["web", "salon"]]
    custom_fields.set_active(session, world.admin, "source", False)
    assert last(session, "custom_field.updated").changes == {"active": [True, False]}

    dave = users.create_user(session, world.admin, login="dave", display_name="Dave")
    created = last(session, "user.created")
    assert (created.entity_type, created.entity_id, created.actor_id) == (
        "user",
        dave.id,
        world.admin.id,
    )
    users.update_user(session, world.admin, "dave", is_admin=True, email="d@x.example")
    assert last(session, "user.updated").changes == {
        "email": [None, "d@x.example"],
        "is_admin": [False, True],
    }
    users.update_user(session, dave, "dave", phone="+33 1 02 03 04 05")
    assert last(session, "user.updated").actor_id == dave.id

    policy = attachments.get_policy(session)
    old_size = policy.max_size
    attachments.set_policy(session, world.admin, max_size=1024)
    assert last(session, "attachment_policy.changed").changes == {"max_size": [old_size, 1024]}

    rule_admin.add_rule(
        session,
        world.admin,
        "Gros clients",
        triggers=["exchange.created"],
        recipients={"company_owner": True},
    )
    added = last(session, "rule.added")
    assert added.changes["name"] == [None, "Gros clients"]
    assert added.changes["triggers"] == [None, ["exchange.created"]]
    rule_admin.set_enabled(session, world.admin, "Gros clients", False)
    assert last(session, "rule.updated").changes == {"enabled": [True, False]}
    rule_admin.delete_rule(session, world.admin, "Gros clients")
    deleted = last(session, "rule.deleted")
    assert deleted.changes["name"] == ["Gros clients", None]
    assert all(e.company_id is None for e in (added, deleted, created))


def test_refused_changes_leave_no_event(world, session):
    companies.update_company(session, world.admin, world.acme.id, owner="bob")
    before = session.scalars(select(Event.id)).all()
    with pytest.raises(PermissionDenied):
        picklists.add_value(session, world.alice, "action", "visit", label_fr="Visite")
    with pytest.raises(PermissionDenied):
        companies.update_company(session, world.alice, world.acme.id, owner="alice")
    with pytest.raises(PermissionDenied):
        opportunities.set_opportunity_stage(session, world.alice, world.deal1.id, "won")
    assert session.scalars(select(Event.id)).all() == before
