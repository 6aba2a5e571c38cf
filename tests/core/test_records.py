"""Users, companies, contacts, opportunities, picklists and categories."""

import pytest
from sqlalchemy import select

from grc_core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from grc_core.models import CompanyStatus, Event
from grc_core.queries.exchanges import ExchangeFilter, list_exchanges
from grc_core.services import (
    categories,
    companies,
    exchanges,
    opportunities,
    picklists,
    users,
)


def test_first_user_bootstraps_then_admin_is_required(session):
    with pytest.raises(ValidationError, match="first user"):
        users.create_user(session, None, login="bob", display_name="Bob")
    admin = users.create_user(session, None, login="Admin", display_name="Admin", is_admin=True)
    assert admin.login == "admin"
    with pytest.raises(PermissionDenied):
        users.create_user(session, None, login="eve", display_name="Eve")
    bob = users.create_user(session, admin, login="bob", display_name="Bob")
    with pytest.raises(PermissionDenied, match="administrator"):
        users.create_user(session, bob, login="eve", display_name="Eve")
    with pytest.raises(Conflict):
        users.create_user(session, admin, login="bob", display_name="Bob 2")
    with pytest.raises(ValidationError, match="login"):
        users.create_user(session, admin, login="bad login!", display_name="X")


def test_users_edit_themselves_but_not_their_rights(world, session):
    users.update_user(session, world.alice, "alice", phone="+33 6 12 34 56 78")
    assert world.alice.phone == "+33 6 12 34 56 78"
    with pytest.raises(PermissionDenied):
        users.update_user(session, world.alice, "alice", is_admin=True)
    with pytest.raises(PermissionDenied):
        users.update_user(session, world.alice, "bob", phone="0")
    with pytest.raises(ValidationError, match="themselves"):
        users.update_user(session, world.admin, "admin", active=False)
    users.update_user(session, world.admin, "bob", active=False)
    assert [u.login for u in users.list_users(session)] == ["admin", "alice", "carol"]


def test_external_references_are_unique_per_kind(world, session):
    companies.create_company(session, world.admin, name="Initech", external_ref="ERP-1")
    with pytest.raises(Conflict, match="ERP-1"):
        companies.create_company(session, world.admin, name="Autre", external_ref="ERP-1")
    # The same reference may name records of different kinds.
    opportunities.create_opportunity(
        session, world.admin, world.acme.id, title="Deal", external_ref="ERP-1"
    )
    users.update_user(session, world.admin, "bob", external_ref="ERP-1")
    assert companies.get_company_by_ref(session, "ERP-1").name == "Initech"
    assert users.get_user_by_ref(session, "ERP-1").login == "bob"
    with pytest.raises(NotFound):
        companies.get_company_by_ref(session, "ERP-404")


def test_company_status_change_is_recorded(world, session):
    companies.set_company_status(session, world.bob, world.other.id, "client")
    companies.set_company_status(session, world.bob, world.other.id, "client")  # no change
    assert world.other.status is CompanyStatus.CLIENT
    [event] = session.scalars(select(Event).where(Event.kind == "company.status_changed")).all()
    assert event.changes == {"status": ["prospect", "client"]}
    assert (event.actor_id, event.company_id) == (world.bob.id, world.other.id)
    with pytest.raises(ValidationError, match="accepted: client, prospect, suspect"):
        companies.set_company_status(session, world.bob, world.other.id, "partner")


def test_opportunity_stage_change_is_recorded(world, session):
    # Changing the stage is for the owner (grc_core.permissions): bob takes the deal first.
    opportunities.update_opportunity(session, world.admin, world.deal1.id, owner=world.bob)
    opportunities.set_opportunity_stage(session, world.bob, world.deal1.id, "proposal")
    [event] = session.scalars(select(Event).where(Event.kind == "opportunity.stage_changed"))
    assert event.changes == {"stage": ["prospecting", "proposal"]}
    assert event.company_id == world.acme.id
    with pytest.raises(ValidationError, match="unknown stage"):
        opportunities.set_opportunity_stage(session, world.bob, world.deal1.id, "signed")


def test_opportunity_amount_is_checked(world, session):
    with pytest.raises(ValidationError, match="amount"):
        opportunities.create_opportunity(session, world.bob, world.acme.id, title="X", amount=-1)
    opp = opportunities.create_opportunity(
        session, world.bob, world.acme.id, title="X", amount="12 500,5".replace(" ", "")
    )
    assert str(opp.amount) == "12500.50"


def test_picklist_administration(world, session):
    with pytest.raises(PermissionDenied):
        picklists.add_value(session, world.alice, "action", "visit", label_fr="Visite")
    value = picklists.add_value(
        session, world.admin, "action", "visit", label_fr="Visite", label_en="Visit"
    )
    assert value.position == 8 and value.label("en") == "Visit"
    with pytest.raises(Conflict):
        picklists.add_value(session, world.admin, "action", "visit", label_fr="Visite")
    with pytest.raises(ValidationError, match="unknown picklist"):
        picklists.list_values(session, "colour")
    for code in ["planned", "in_progress", "done"]:
        picklists.set_active(session, world.admin, "status", code, False)
    with pytest.raises(ValidationError, match="last active"):
        picklists.set_active(session, world.admin, "status", "cancelled", False)


def test_category_tree_and_subcategory_filter(world, session):
    admin = world.admin
    categories.add_category(session, admin, "commercial", label_fr="Commercial")
    categories.add_category(session, admin, "relance", label_fr="Relance", parent="commercial")
    categories.add_category(session, admin, "impaye", label_fr="Impayé", parent="relance")
    categories.add_category(session, admin, "support", label_fr="Support")
    assert [c.code for c in categories.list_categories(session)] == [
        "commercial",
        "relance",
        "impaye",
        "support",
    ]
    made = {
        code: exchanges.create_exchange(
            session, world.alice, subject=code, start=world.at(), action="call", category=code
        )
        for code in ["commercial", "impaye", "support"]
    }
    found = list_exchanges(session, world.alice, ExchangeFilter(category="commercial"))
    assert {e.id for e in found} == {made["commercial"].id, made["impaye"].id}
    categories.set_active(session, admin, "support", False)
    with pytest.raises(ValidationError, match="retired"):
        exchanges.create_exchange(
            session, world.alice, subject="x", start=world.at(), action="call", category="support"
        )
    assert made["support"].category.code == "support"
    with pytest.raises(ValidationError, match="unknown category"):
        categories.add_category(session, admin, "x", label_fr="X", parent="nope")


def test_list_filters_combine(world, session):
    def make(**kw):
        args = {"subject": "e", "start": world.at(), "action": "call"} | kw
        return exchanges.create_exchange(session, world.alice, **args)

    a = make(action="meeting", medium="video", company_id=world.acme.id, start=world.at(-48))
    b = make(action="meeting", status="done", company_id=world.acme.id, assignees=["bob"])
    c = make(action="email", medium="email", start=world.at(24))
    d = make(action="call", company_id=world.other.id, start=world.at(1))

    def ids(**kw):
        return [e.id for e in list_exchanges(session, world.admin, ExchangeFilter(**kw))]

    assert ids() == [c.id, d.id, b.id, a.id]  # newest first
    assert ids(actions=("meeting",)) == [b.id, a.id]
    assert ids(actions=("meeting",), statuses=("done",)) == [b.id]
    assert ids(media=("video", "email")) == [c.id, a.id]
    assert ids(company_id=world.acme.id) == [b.id, a.id]
    assert ids(global_only=True) == [c.id]
    assert ids(assignee_id=world.bob.id) == [b.id]
    assert ids(author_id=world.alice.id, since=world.at(), until=world.at(2)) == [d.id, b.id]
    with pytest.raises(ValidationError, match="limit"):
        list_exchanges(session, world.admin, None, limit=0)
    assert len(list_exchanges(session, world.admin, None, limit=2)) == 2
