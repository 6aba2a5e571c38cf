"""Exchange rules, updates, completion, deletion and their audit events."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from grc_core.errors import ConfigError, ValidationError
from grc_core.models import Event, Exchange
from grc_core.models.exchange import SUBJECT_MAX
from grc_core.services import categories, exchanges, picklists


def events_of(session, exchange_id):
    stmt = select(Event).where(Event.entity_type == "exchange", Event.entity_id == exchange_id)
    return list(session.scalars(stmt.order_by(Event.id)))


def create(world, **kw):
    args = {"subject": "Appel de suivi", "start": world.at(), "action": "call"}
    args.update(kw)
    actor = args.pop("actor", world.alice)
    return exchanges.create_exchange(world.session, actor, **args)


def test_every_r1_field_is_stored(world, session):
    categories.add_category(session, world.admin, "commercial", label_fr="Commercial")
    paris = ZoneInfo("Europe/Paris")
    ex = create(
        world,
        subject="Rendez-vous annuel",
        details="Compte rendu détaillé\nsur deux lignes",
        start=datetime(2026, 6, 1, 14, 0, tzinfo=paris),
        end=datetime(2026, 6, 1, 15, 30, tzinfo=paris),
        action="meeting",
        status="in_progress",
        medium="on_site",
        category="commercial",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id, world.deal2.id],
        contact_ids=[world.acme_contact.id],
        assignees=["alice", "bob"],
        private=True,
    )
    session.expire_all()
    got = exchanges.get_exchange(session, world.alice, ex.uuid)
    assert got.start_at == datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert got.end_at - got.start_at == timedelta(minutes=90)
    assert got.start_at.utcoffset() == timedelta(0)
    assert (got.action.code, got.status.code, got.medium.code) == (
        "meeting",
        "in_progress",
        "on_site",
    )
    assert got.category.code == "commercial"
    assert got.details.endswith("sur deux lignes")
    assert got.company.name == "ACME"
    assert [o.title for o in got.opportunities] == ["Renouvellement", "Extension"]
    assert [c.last_name for c in got.contacts] == ["Durand"]
    assert [u.login for u in got.assignees] == ["alice", "bob"]
    assert got.author.login == "alice" and got.private
    assert got.created_at is not None and got.updated_at is not None


def test_end_before_start_is_refused(world):
    with pytest.raises(ValidationError, match=r"end .* is before start"):
        create(world, start=world.at(2), end=world.at(1))


def test_naive_datetime_is_refused(world):
    with pytest.raises(ValidationError, match="timezone-aware"):
        create(world, start=datetime(2026, 1, 1, 10, 0))


def test_end_defaults_to_start(world):
    ex = create(world)
    assert ex.end_at == ex.start_at


@pytest.mark.parametrize("subject", ["", "   ", "x" * (SUBJECT_MAX + 1), "bad\x00nul", "a\u202eb"])
def test_subject_required_bounded_and_printable(world, subject):
    with pytest.raises(ValidationError) as err:
        create(world, subject=subject)
    assert err.value.field == "subject"


def test_subject_at_the_bound_is_accepted(world):
    assert len(create(world, subject="é" * SUBJECT_MAX).subject) == SUBJECT_MAX


def test_opportunity_of_another_company_is_refused(world):
    with pytest.raises(ValidationError, match="belongs to company"):
        create(world, company_id=world.acme.id, opportunity_ids=[world.other_deal.id])


def test_contact_of_another_company_is_refused(world):
    with pytest.raises(ValidationError, match="belongs to company"):
        create(world, company_id=world.acme.id, contact_ids=[world.other_contact.id])


def test_global_exchange_cannot_have_links(world):
    with pytest.raises(ValidationError, match="global exchange"):
        create(world, opportunity_ids=[world.deal1.id])
    ex = create(world)
    assert ex.is_global and ex.opportunities == []


def test_at_least_one_assignee(world):
    with pytest.raises(ValidationError, match="at least one assigned user"):
        create(world, assignees=[])


def test_deactivated_user_cannot_be_assigned(world, session):
    world.carol.active = False
    with pytest.raises(ValidationError, match="deactivated"):
        create(world, assignees=["carol"])


def test_unknown_picklist_value_lists_accepted_ones(world):
    with pytest.raises(ValidationError, match="unknown action 'fax'; accepted: todo, call"):
        create(world, action="fax")


def test_retired_value_kept_by_old_exchanges_refused_for_new(world, session):
    old = create(world, action="letter")
    picklists.set_active(session, world.admin, "action", "letter", False)
    with pytest.raises(ValidationError, match="retired"):
        create(world, action="letter")
    # The old exchange keeps it, and can still be edited without changing it.
    exchanges.update_exchange(session, world.alice, old.id, subject="Courrier relu")
    assert old.action.code == "letter"
    # ...but nobody may move another exchange onto it.
    other = create(world, action="call")
    with pytest.raises(ValidationError, match="retired"):
        exchanges.update_exchange(session, world.alice, other.id, action="letter")
    picklists.set_active(session, world.admin, "action", "letter", True)
    assert create(world, action="letter").action.code == "letter"


def test_creation_event_has_every_field(world, session):
    ex = create(world, company_id=world.acme.id, opportunity_ids=[world.deal1.id])
    [event] = events_of(session, ex.id)
    assert event.kind == "exchange.created"
    assert event.actor_id == world.alice.id
    assert event.company_id == world.acme.id
    assert event.changes["subject"] == [None, "Appel de suivi"]
    assert event.changes["opportunity_ids"] == [None, [world.deal1.id]]
    assert event.changes["start"] == [None, world.at().isoformat()]
    assert event.occurred_at.tzinfo is not None


def test_update_records_only_changed_fields(world, session):
    ex = create(world, company_id=world.acme.id)
    exchanges.update_exchange(
        session, world.alice, ex.id, subject="Nouvel objet", assignees=["alice", "carol"]
    )
    exchanges.update_exchange(session, world.alice, ex.id, subject="Nouvel objet")  # no change
    _created, updated = events_of(session, ex.id)
    assert updated.kind == "exchange.updated"
    assert updated.changes == {
        "subject": ["Appel de suivi", "Nouvel objet"],
        "assignee_ids": [[world.alice.id], sorted([world.alice.id, world.carol.id])],
    }


def test_changing_company_checks_existing_links(world, session):
    ex = create(world, company_id=world.acme.id, opportunity_ids=[world.deal1.id])
    with pytest.raises(ValidationError, match="belongs to company"):
        exchanges.update_exchange(session, world.alice, ex.id, company_id=world.other.id)
    exchanges.update_exchange(
        session,
        world.alice,
        ex.id,
        company_id=world.other.id,
        opportunity_ids=[world.other_deal.id],
    )
    assert ex.company_id == world.other.id
    assert [o.id for o in ex.opportunities] == [world.other_deal.id]


def test_complete_records_a_completion_event(world, session):
    ex = create(world, action="todo")
    exchanges.complete_exchange(session, world.alice, ex.id)
    assert ex.status.code == "done"
    kinds = [e.kind for e in events_of(session, ex.id)]
    assert kinds == ["exchange.created", "exchange.completed"]
    # Completing twice changes nothing and writes nothing.
    exchanges.complete_exchange(session, world.alice, ex.id)
    assert len(events_of(session, ex.id)) == 2


def test_complete_refuses_an_open_status(world):
    ex = create(world)
    with pytest.raises(ValidationError, match="does not close"):
        exchanges.complete_exchange(world.session, world.alice, ex.id, status="in_progress")


def test_update_to_closed_status_is_a_completion(world, session):
    ex = create(world)
    exchanges.update_exchange(session, world.alice, ex.id, status="cancelled")
    assert events_of(session, ex.id)[-1].kind == "exchange.completed"


def test_delete_keeps_a_snapshot_in_the_event(world, session):
    ex = create(world, private=True, assignees=["alice", "bob"], company_id=world.acme.id)
    ex_id = ex.id
    exchanges.delete_exchange(session, world.alice, ex_id)
    assert session.get(Exchange, ex_id) is None
    deleted = events_of(session, ex_id)[-1]
    assert deleted.kind == "exchange.deleted"
    assert deleted.changes["private"] == [True, None]
    assert deleted.changes["assignee_ids"][0] == sorted([world.alice.id, world.bob.id])


def test_timezone_name_is_validated():
    from grc_core.timeutil import zone

    with pytest.raises(ConfigError, match="unknown time zone"):
        zone("Mars/Olympus")
