"""Optimistic concurrency in the company, contact, opportunity, user and configuration
services: a stale ``expected_version`` is a ``VersionConflict`` and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from grc_core.errors import VersionConflict
from grc_core.models import Event
from grc_core.notify import rule_admin
from grc_core.services import categories, companies, custom_fields, opportunities, picklists, users


def _setup(session, world) -> None:
    categories.add_category(session, world.admin, "sav", label_fr="SAV")
    custom_fields.define_field(session, world.admin, "source", label="Source", type="text")
    picklists.add_value(session, world.admin, "action", "visit", label_fr="Visite")
    rule_admin.add_rule(
        session, world.admin, "R", triggers=["exchange.created"], recipients={"author": True}
    )


# (record, what to change, the change as a function of expected_version)
CASES: dict[str, tuple[Callable[[Any], Any], Callable[..., Any]]] = {
    "company details": (
        lambda w: w.acme,
        lambda s, w, v: companies.update_company(
            s, w.admin, w.acme.id, name="New", expected_version=v
        ),
    ),
    "company status": (
        lambda w: w.acme,
        lambda s, w, v: companies.set_company_status(
            s, w.admin, w.acme.id, "suspect", expected_version=v
        ),
    ),
    "contact details": (
        lambda w: w.acme_contact,
        lambda s, w, v: companies.update_contact(
            s, w.admin, w.acme_contact.id, phone="+33 1", expected_version=v
        ),
    ),
    "contact move": (
        lambda w: w.acme_contact,
        lambda s, w, v: companies.move_contact(
            s, w.admin, w.acme_contact.id, w.other.id, expected_version=v
        ),
    ),
    "opportunity details": (
        lambda w: w.deal1,
        lambda s, w, v: opportunities.update_opportunity(
            s, w.admin, w.deal1.id, amount="5", expected_version=v
        ),
    ),
    "opportunity stage": (
        lambda w: w.deal1,
        lambda s, w, v: opportunities.set_opportunity_stage(
            s, w.admin, w.deal1.id, "won", expected_version=v
        ),
    ),
    "opportunity transfer": (
        lambda w: w.deal1,
        lambda s, w, v: opportunities.transfer_opportunity(
            s, w.admin, w.deal1.id, w.other.id, expected_version=v
        ),
    ),
    "user": (
        lambda w: w.bob,
        lambda s, w, v: users.update_user(
            s, w.admin, "bob", display_name="Robert", expected_version=v
        ),
    ),
    "picklist value": (
        lambda w: picklists.get_value(w.session, "action", "visit"),
        lambda s, w, v: picklists.set_active(
            s, w.admin, "action", "visit", False, expected_version=v
        ),
    ),
    "category": (
        lambda w: categories.get_category(w.session, "sav"),
        lambda s, w, v: categories.set_active(s, w.admin, "sav", False, expected_version=v),
    ),
    "custom field": (
        lambda w: custom_fields.get_field(w.session, "source"),
        lambda s, w, v: custom_fields.set_active(s, w.admin, "source", False, expected_version=v),
    ),
    "rule": (
        lambda w: rule_admin.get_rule(w.session, "R"),
        lambda s, w, v: rule_admin.set_enabled(s, w.admin, "R", False, expected_version=v),
    ),
}


def _events(session) -> int:
    return session.scalar(select(func.count()).select_from(Event))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stale_version_is_refused_and_changes_nothing(world, session, case):
    _setup(session, world)
    get, change = CASES[case]
    record = get(world)
    version = record.version
    session.flush()
    before = _events(session)
    with pytest.raises(VersionConflict, match=f"expected version {version + 1}"):
        change(session, world, version + 1)
    assert get(world).version == version
    assert _events(session) == before  # nothing recorded
    # With the version read, the change is made, and the version moves on.
    change(session, world, version)
    session.flush()
    session.refresh(record)
    assert record.version == version + 1
    assert _events(session) == before + 1
    with pytest.raises(VersionConflict):
        change(session, world, version)


def test_without_a_version_the_last_writer_wins(world, session):
    companies.update_company(session, world.admin, world.acme.id, name="A")
    companies.update_company(session, world.admin, world.acme.id, name="B")
    assert world.acme.name == "B"
