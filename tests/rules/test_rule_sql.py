"""Conditions compiled to SQL, on SQLite and PostgreSQL, and the contexts built from the
database; each example also checks that Python evaluation selects the same exchanges."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from grc_core.models import Company, Event, EventKind, Exchange
from grc_core.rules import (
    Catalogue,
    compile_condition,
    event_context,
    exchange_context,
    snapshot_context,
)
from grc_core.services import categories, companies, exchanges, opportunities

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def selected(session, source, *, now=NOW, event_kind=None, event_actor=None, escalation=False):
    """The ids SQL selects among all exchanges, after checking Python agrees."""
    condition = compile_condition(source, Catalogue.load(session), escalation=escalation)
    predicate = condition.to_sql(now, event_kind=event_kind, event_actor=event_actor)
    by_sql = set(session.scalars(select(Exchange.id).where(predicate)))
    by_python = set()
    for exchange in session.scalars(select(Exchange)):
        context = exchange_context(session, exchange, now=now)
        values = dict(context.values, **{"event.kind": event_kind, "event.actor": event_actor})
        if condition.evaluate(type(context)(now, values, exchange.id)):
            by_python.add(exchange.id)
    assert by_sql == by_python, source
    return by_sql


@pytest.fixture
def todos(world, session, fields):
    """Four to-dos around NOW, and a call."""

    def make(subject, end_days_ago, status="planned", action="todo"):
        end = NOW - timedelta(days=end_days_ago)
        return exchanges.create_exchange(
            session,
            world.alice,
            subject=subject,
            start=end - timedelta(hours=1),
            end=end,
            action=action,
            status=status,
        ).id

    return {
        "late": make("Relancer ACME", 3),
        "late_done": make("Envoyer le devis", 3, status="done"),
        "recent": make("Rappeler", 1),
        "edge": make("Pile deux jours", 2),
        "call": make("Appel", 5, action="call"),
    }


def test_the_overdue_todo_escalation(session, todos):
    rule = "exchange.action = 'todo' and exchange.status != 'done' and exchange.end < now() - 2d"
    assert selected(session, rule, escalation=True) == {todos["late"]}
    # now() is the given time, not the database clock: a day later, "recent" is late too
    later = selected(session, rule, now=NOW + timedelta(days=1, seconds=1), escalation=True)
    assert later == {todos["late"], todos["edge"], todos["recent"]}


def test_now_is_a_bound_parameter_never_the_database_clock(session, todos, catalogue):
    condition = compile_condition("exchange.end < now() - 2d and custom.due < today()", catalogue)
    statement = select(Exchange.id).where(condition.to_sql(NOW))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = statement.compile(dialect=dialect)
        sql_text = str(compiled).lower()
        for clock in ("now(", "current_timestamp", "current_date", "localtimestamp"):
            assert clock not in sql_text
        assert NOW - timedelta(days=2) in compiled.params.values()
        assert date(2026, 3, 5) in compiled.params.values()


def test_to_sql_refuses_a_naive_now(catalogue):
    from grc_core.errors import ValidationError

    with pytest.raises(ValidationError, match="timezone-aware"):
        compile_condition("exchange.private", catalogue).to_sql(datetime(2026, 3, 5))


def test_text_comparisons_agree_on_case_accents_and_wildcards(world, session, fields):
    made = {}
    for subject in (
        "Devis ACME",
        "devis acme",
        "Élise",
        "élise",
        "remise 50%",
        "a_c",
        "abc",
        "Zoo",
    ):
        ex = exchanges.create_exchange(
            session, world.alice, subject=subject, start=world.at(), action="call"
        )
        made[subject] = ex.id
    assert selected(session, "exchange.subject contains 'acme'") == {
        made["Devis ACME"],
        made["devis acme"],
    }
    assert selected(session, "exchange.subject contains 'ÉLI'") == {made["Élise"]}
    assert selected(session, "exchange.subject contains '0%'") == {made["remise 50%"]}
    assert selected(session, "exchange.subject contains 'a_c'") == {made["a_c"]}
    assert selected(session, "exchange.subject = 'devis acme'") == {made["devis acme"]}
    # code-point order on both databases, whatever PostgreSQL's locale: 'Z' < 'a' < 'É'
    assert selected(session, "exchange.subject < 'a'") == {made["Devis ACME"], made["Zoo"]}
    assert selected(session, "exchange.subject > 'z'") == {made["Élise"], made["élise"]}


def test_text_order_does_not_depend_on_the_database_collation(world, session, fields):
    # Give companies.name a locale collation (rolled back with the test): ICU sorts 'Zebra'
    # after 'apple', Python and the rule language do not.
    icu = False
    if session.get_bind().dialect.name == "postgresql":
        icu = session.scalar(text("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'"))
        if icu:
            session.execute(
                text(
                    'ALTER TABLE companies ALTER COLUMN name TYPE varchar(200) COLLATE "und-x-icu"'
                )
            )
    names = {}
    for name in ("Zebra", "apple", "Élise"):
        firm = companies.create_company(session, world.admin, name=name)
        names[name] = exchanges.create_exchange(
            session, world.alice, subject=name, start=world.at(), action="call", company_id=firm.id
        ).id
    assert selected(session, "company.name < 'a'") == {names["Zebra"]}
    assert selected(session, "company.name >= 'a'") == {names["apple"], names["Élise"]}
    if icu:  # the locale would have said otherwise
        assert session.scalar(select(func.count()).where(Company.name < "a")) == 0


def test_missing_values_and_negation(world, session, fields):
    phone = exchanges.create_exchange(
        session, world.alice, subject="A", start=world.at(), action="call", medium="phone"
    ).id
    none = exchanges.create_exchange(
        session, world.alice, subject="B", start=world.at(), action="call"
    ).id
    assert selected(session, "exchange.medium != 'phone'") == set()
    assert selected(session, "not exchange.medium = 'phone'") == {none}
    assert selected(session, "exchange.medium not in ['video']") == {phone}
    assert selected(session, "exchange.medium is empty") == {none}
    assert selected(session, "company.name is empty") == {phone, none}  # global exchanges
    assert selected(session, "company.name != 'x'") == set()


def test_opportunities_are_any_linked_one(world, session, fields):
    opportunities.set_opportunity_stage(session, world.admin, world.deal1.id, "won")
    both = exchanges.create_exchange(
        session,
        world.alice,
        subject="Deux affaires",
        start=world.at(),
        action="call",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id, world.deal2.id],
    ).id
    won_only = exchanges.create_exchange(
        session,
        world.alice,
        subject="Gagnée",
        start=world.at(),
        action="call",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id],
    ).id
    unlinked = exchanges.create_exchange(
        session, world.alice, subject="Sans", start=world.at(), action="call"
    ).id
    assert selected(session, "opportunity.stage = 'won'") == {both, won_only}
    assert selected(session, "opportunity.stage != 'won'") == {both}
    assert selected(session, "not opportunity.stage = 'won'") == {unlinked}
    assert selected(session, "opportunity.stage is empty") == {unlinked}
    assert selected(session, "opportunity.title contains 'extension'") == {both}
    assert selected(session, "opportunity.owner = 'admin'") == {both, won_only}


def test_custom_fields_of_every_type(world, session, fields):
    def make(**custom):
        return exchanges.create_exchange(
            session, world.alice, subject="X", start=world.at(), action="call", custom=custom
        ).id

    full = make(
        ref="DEV-42", seats=12, budget="1250.50", due="2026-03-10", urgent=True, channel="web"
    )
    other = make(ref="dev-7", seats=-3, budget="0.1", due="2026-03-01", urgent=False)
    empty = make()
    assert selected(session, "custom.ref contains 'dev'") == {full, other}
    assert selected(session, "custom.seats > 2.5") == {full}
    assert selected(session, "custom.seats in [-3, 7]") == {other}
    # beyond 32 bits (the column's range) and below zero, on both databases
    assert selected(session, "custom.seats < 999999999999999") == {full, other}
    assert selected(session, "custom.budget > -999999999.999999") == {full, other}
    assert selected(session, "custom.budget = 1250.5") == {full}
    assert selected(session, "custom.budget <= 0.1") == {other}
    assert selected(session, "custom.due - 1w < today()") == {full, other}
    assert selected(session, "custom.due < today()") == {other}
    assert selected(session, "custom.urgent") == {full}
    assert selected(session, "not custom.urgent") == {other, empty}
    assert selected(session, "custom.urgent = false") == {other}
    assert selected(session, "custom.channel not in ['salon']") == {full}
    assert selected(session, "custom.channel is empty") == {other, empty}


def test_people_company_and_category(world, session, fields):
    categories.add_category(session, world.admin, "commercial", label_fr="Commercial")
    companies.update_company(session, world.admin, world.acme.id, owner="bob")
    at_acme = exchanges.create_exchange(
        session,
        world.alice,
        subject="Chez ACME",
        start=world.at(),
        action="meeting",
        company_id=world.acme.id,
        assignees=["alice", "carol"],
        category="commercial",
        private=True,
    ).id
    at_globex = exchanges.create_exchange(
        session,
        world.bob,
        subject="Chez Globex",
        start=world.at(),
        action="call",
        company_id=world.other.id,
    ).id
    assert selected(session, "exchange.assignees = 'carol'") == {at_acme}
    assert selected(session, "exchange.assignees != 'alice'") == {at_acme, at_globex}
    assert selected(session, "exchange.author = 'bob'") == {at_globex}
    assert selected(session, "company.owner = 'bob'") == {at_acme}
    assert selected(session, "company.status = 'client'") == {at_acme}
    assert selected(session, "company.status in ['prospect', 'suspect']") == {at_globex}
    assert selected(session, "exchange.category = 'commercial'") == {at_acme}
    assert selected(session, "exchange.private") == {at_acme}


def test_event_fields_are_constants_of_the_sweep(session, todos):
    rule = "event.kind = 'exchange.created' and exchange.action = 'call'"
    assert selected(session, rule, event_kind="exchange.created") == {todos["call"]}
    assert selected(session, rule, event_kind="exchange.updated") == set()
    assert selected(session, rule) == set()
    assert selected(session, "event.actor is empty", event_actor="alice") == set()
    assert selected(session, "not event.actor = 'bob'", event_actor="alice") == set(todos.values())


def test_a_caller_may_join_other_tables(session, todos, world):
    # The subqueries correlate to exchanges only, so joining picklist_values does not
    # capture them.
    from grc_core.models import PicklistValue

    condition = compile_condition("exchange.status = 'done'", Catalogue.load(session))
    statement = (
        select(Exchange.id)
        .join(PicklistValue, PicklistValue.id == Exchange.action_id)
        .where(PicklistValue.code == "todo", condition.to_sql(NOW))
    )
    assert set(session.scalars(statement)) == {todos["late_done"]}


def test_catalogue_load_reads_fields_and_codes(world, session, fields):
    categories.add_category(session, world.admin, "support", label_fr="Support")
    catalogue = Catalogue.load(session)
    assert catalogue.get("custom.budget").type.value == "number"
    assert catalogue.get("custom.channel").choices == {"web", "salon", "tel"}
    assert "todo" in catalogue.get("exchange.action").choices
    assert catalogue.get("exchange.category").choices == {"support"}
    assert "won" in catalogue.get("opportunity.stage").choices


def test_snapshot_context_matches_the_live_exchange(world, session, fields):
    exchange = exchanges.create_exchange(
        session,
        world.alice,
        subject="Complet",
        details="Détails",
        start=world.at(),
        end=world.at(2),
        action="meeting",
        medium="on_site",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id],
        assignees=["alice", "bob"],
        custom={"budget": "99.90", "due": "2026-04-01", "seats": 3, "urgent": True},
    )
    created = session.scalars(
        select(Event).where(Event.kind == EventKind.EXCHANGE_CREATED.value).order_by(Event.id)
    ).all()[-1]
    live = exchange_context(session, exchange, event=created, now=NOW).values
    snap = snapshot_context(session, created, now=NOW).values
    differing = {k for k in live if live[k] != snap.get(k)}
    assert differing == {"exchange.created", "exchange.updated"}  # not in the snapshot
    assert snap["custom.budget"] == Decimal("99.900000")
    assert snap["custom.due"] == date(2026, 4, 1)

    exchanges.delete_exchange(session, world.alice, exchange.id)
    deleted = session.scalars(
        select(Event).where(Event.kind == EventKind.EXCHANGE_DELETED.value)
    ).one()
    after = event_context(session, deleted, now=NOW)  # the row is gone: the snapshot
    assert after.values["exchange.subject"] == "Complet"
    assert after.values["event.kind"] == "exchange.deleted"
    assert after.values["event.actor"] == "alice"
    assert after.values["exchange.assignees"] == ("alice", "bob")
    rule = compile_condition(
        "event.kind = 'exchange.deleted' and company.name = 'ACME' and custom.urgent",
        Catalogue.load(session),
    )
    assert rule.evaluate(after)


def test_snapshot_context_refuses_an_update_diff(world, session, fields):
    from grc_core.errors import ValidationError

    exchange = exchanges.create_exchange(
        session, world.alice, subject="A", start=world.at(), action="call"
    )
    exchanges.update_exchange(session, world.alice, exchange.id, subject="B")
    updated = session.scalars(
        select(Event).where(Event.kind == EventKind.EXCHANGE_UPDATED.value)
    ).one()
    with pytest.raises(ValidationError, match="carries no whole snapshot"):
        snapshot_context(session, updated)
    # event_context uses the stored exchange instead
    assert event_context(session, updated, now=NOW).values["exchange.subject"] == "B"


def test_event_context_for_company_and_opportunity_events(world, session, fields):
    companies.set_company_status(session, world.admin, world.other.id, "client")
    opportunities.set_opportunity_stage(session, world.admin, world.deal2.id, "won")
    company_event, stage_event = session.scalars(
        select(Event)
        .where(Event.kind.in_(["company.status_changed", "opportunity.stage_changed"]))
        .order_by(Event.id)
    ).all()
    company = event_context(session, company_event, now=NOW)
    assert company.values["company.name"] == "Globex"
    assert company.values["company.status"] == "client"
    assert "exchange.subject" not in company.values
    stage = event_context(session, stage_event, now=NOW)
    assert stage.values["opportunity.stage"] == ("won",)
    assert stage.values["company.name"] == "ACME"
    rule = compile_condition(
        "event.kind = 'opportunity.stage_changed' and opportunity.stage = 'won'",
        Catalogue.load(session),
    )
    assert rule.evaluate(stage) and not rule.evaluate(company)
