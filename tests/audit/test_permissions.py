"""Who may change what (grc_core.permissions): a matrix of actor × action, through the
services, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grc_core import permissions
from grc_core.errors import PermissionDenied
from grc_core.services import companies, opportunities, users

# The cast: "owner" owns the company ACME; "seller" owns an opportunity of ACME;
# "other" owns nothing; "admin" is an administrator.
ACTIONS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "company status": lambda s, a, w: companies.set_company_status(s, a, w.acme.id, "suspect"),
    "company rename": lambda s, a, w: companies.update_company(s, a, w.acme.id, name="Acme 2"),
    "company owner": lambda s, a, w: companies.update_company(s, a, w.acme.id, owner=a),
    "contact update": lambda s, a, w: companies.update_contact(
        s, a, w.acme_contact.id, job_title="DAF"
    ),
    "contact move out": lambda s, a, w: companies.move_contact(
        s, a, w.acme_contact.id, w.unowned.id
    ),
    "opportunity stage": lambda s, a, w: opportunities.set_opportunity_stage(
        s, a, w.deal1.id, "proposal"
    ),
    "opportunity amount": lambda s, a, w: opportunities.update_opportunity(
        s, a, w.deal1.id, amount="99"
    ),
    "opportunity owner": lambda s, a, w: opportunities.update_opportunity(
        s, a, w.deal1.id, owner=a
    ),
    "opportunity transfer": lambda s, a, w: opportunities.transfer_opportunity(
        s, a, w.deal1.id, w.unowned.id
    ),
    "unowned company status": lambda s, a, w: companies.set_company_status(
        s, a, w.unowned.id, "client"
    ),
    "contact move in": lambda s, a, w: companies.move_contact(
        s, a, w.other_contact.id, w.unowned.id
    ),
    "create company": lambda s, a, w: companies.create_company(s, a, name="Neuve"),
    "create contact": lambda s, a, w: companies.create_contact(s, a, w.acme.id, last_name="X"),
    "create opportunity": lambda s, a, w: opportunities.create_opportunity(
        s, a, w.acme.id, title="X"
    ),
}

ALLOWED = {
    "admin": set(ACTIONS),
    "owner": set(ACTIONS) - {"contact move in"},
    "seller": {
        "opportunity stage",
        "opportunity amount",
        "opportunity owner",
        "unowned company status",
        "create company",
        "create contact",
        "create opportunity",
        "opportunity transfer",  # to a company nobody owns: anyone may change that one
    },
    "other": {
        "unowned company status",
        "create company",
        "create contact",
        "create opportunity",
    },
}


@pytest.fixture
def cast(world, session):
    owner = users.create_user(session, world.admin, login="owner", display_name="Owner")
    seller = users.create_user(session, world.admin, login="seller", display_name="Seller")
    companies.update_company(session, world.admin, world.acme.id, owner=owner)
    companies.update_company(session, world.admin, world.other.id, owner=world.carol)
    opportunities.update_opportunity(session, world.admin, world.deal1.id, owner=seller)
    world.unowned = companies.create_company(session, world.admin, name="Sans maître")
    return {"admin": world.admin, "owner": owner, "seller": seller, "other": world.bob}


CASES = [(who, action) for who in ALLOWED for action in ACTIONS]


@pytest.mark.parametrize(("who", "action"), CASES, ids=[f"{w}-{a}" for w, a in CASES])
def test_matrix(world, session, cast, who, action):
    actor = cast[who]
    if action in ALLOWED[who]:
        ACTIONS[action](session, actor, world)
    else:
        with pytest.raises(PermissionDenied) as refused:
            ACTIONS[action](session, actor, world)
        assert repr(actor.login) in str(refused.value)
        assert "administrator" in str(refused.value)  # says who may


def test_a_deactivated_user_may_change_nothing(world, session, cast):
    users.update_user(session, world.admin, "owner", active=False)
    for action in ("company status", "opportunity stage", "create company"):
        with pytest.raises(PermissionDenied, match="deactivated"):
            ACTIONS[action](session, cast["owner"], world)
    assert not permissions.can_change(cast["owner"], world.acme)


def test_the_boolean_rule_matches_the_services(world, session, cast):
    assert permissions.can_change(cast["owner"], world.acme)
    assert permissions.can_change(cast["owner"], world.deal1)  # the company's owner
    assert permissions.can_change(cast["seller"], world.deal1)
    assert not permissions.can_change(cast["seller"], world.acme)
    assert not permissions.can_change(cast["other"], world.acme_contact)
    assert permissions.can_change(cast["other"], world.unowned)
    assert not permissions.can_move_contact(cast["other"], world.other_contact, world.unowned)
    # Into a company nobody owns: only whoever may change the company it leaves.
    assert not permissions.can_move_contact(cast["other"], world.acme_contact, world.unowned)
    assert permissions.can_move_contact(world.carol, world.acme_contact, world.other)
    assert not permissions.can_move_contact(cast["other"], world.acme_contact, world.other)
    with pytest.raises(TypeError):
        permissions.can_change(cast["admin"], world.admin)  # type: ignore[arg-type]
