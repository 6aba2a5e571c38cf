"""THE property: Python evaluation and SQL compilation of a condition agree.

Hypothesis writes random conditions over every field of the catalogue — each operator,
literals chosen to hit stored values and their boundaries, arithmetic on both sides,
and/or/not nesting — and the exchange ids selected by ``condition.to_sql(now)`` must be
exactly the ids whose Python context evaluates true, on SQLite and on PostgreSQL.

Two tests share the generators: one builds a varied data set once and tries many conditions
on it; the other also draws the data (companies, opportunities, exchanges with missing
values and custom values) and rolls it back after each example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from grc_core.models import EventKind, Exchange
from grc_core.rules import Catalogue, Context, compile_condition, exchange_context
from grc_core.services import categories, companies, exchanges, opportunities

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)

# --- value pools: few values, so that literals often equal stored values ---------------------

TEXTS = ["a", "A", "ab", "Ab", "abc", "b", "B", "é", "É", "Élise", "élise", "50%", "a_c"]
TEXTS += ["zz", "Zèbre", "x y", "l'été", "ACME"]
NEEDLES = ["", "a", "A", "b", "é", "É", "%", "_", "a_c", "50%", "li", "LI", "x y", "'", "acme"]
INTEGERS = [-3, 0, 1, 2, 10, 12]
DECIMALS = [Decimal(v) for v in ("-2.25", "0", "0.1", "1.5", "10", "12.345678", "1500.5")]
AMOUNTS = [None, Decimal("0"), Decimal("1.5"), Decimal("10"), Decimal("1500.5")]
DAYS = [date(2026, 3, 5) + timedelta(days=k) for k in (-3, -2, -1, 0, 1, 2, 7)]
HOURS = [-75, -72, -49, -48, -47, -24, -1, 0, 1, 24, 48]
MOMENTS = [NOW + timedelta(hours=h) for h in HOURS] + [NOW - timedelta(hours=48, microseconds=-1)]
LENGTHS = [timedelta(0), timedelta(minutes=30), timedelta(hours=1), timedelta(days=2)]
MOMENT_SHIFTS = ["1h", "2d", "30m", "1w", "1d12h", "0s", "2d 3h", "1s"]
DAY_SHIFTS = ["1d", "2d", "1w", "0d"]
OPS = ["=", "!=", "<", "<=", ">", ">="]
FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

LOGINS = ["admin", "alice", "bob", "carol"]
ACTIONS = ["todo", "call", "meeting", "note"]
STATUSES = ["planned", "in_progress", "done", "cancelled"]
MEDIA = ["phone", "video", "email"]
STAGES = ["prospecting", "proposal", "won", "lost"]
CATEGORIES = ["commercial", "support"]
COMPANY_STATUSES = ["client", "prospect", "suspect"]
EVENT_KINDS = [EventKind.EXCHANGE_CREATED.value, EventKind.EXCHANGE_UPDATED.value]
CHOICES = ["web", "salon", "tel"]

#: Every field of the catalogue, by type, with the codes a code field is compared with.
TEXT_FIELDS = ["exchange.subject", "exchange.details", "company.name", "opportunity.title"]
TEXT_FIELDS += ["custom.ref"]
CODE_FIELDS = {
    "exchange.action": ACTIONS,
    "exchange.status": STATUSES,
    "exchange.medium": MEDIA,
    "exchange.category": CATEGORIES,
    "exchange.author": LOGINS,
    "exchange.assignees": LOGINS,
    "company.status": COMPANY_STATUSES,
    "company.owner": LOGINS,
    "opportunity.stage": STAGES,
    "opportunity.owner": LOGINS,
    "custom.channel": CHOICES,
    "event.kind": EVENT_KINDS,
    "event.actor": LOGINS,
}
NUMBER_FIELDS = ["opportunity.amount", "custom.seats", "custom.budget"]
DATE_FIELDS = ["opportunity.expected_close", "custom.due"]
MOMENT_FIELDS = ["exchange.start", "exchange.end", "exchange.created", "exchange.updated"]
BOOLEAN_FIELDS = ["exchange.private", "custom.urgent"]
ALL_FIELDS = [*TEXT_FIELDS, *CODE_FIELDS, *NUMBER_FIELDS, *DATE_FIELDS, *MOMENT_FIELDS]
ALL_FIELDS += BOOLEAN_FIELDS

# --- conditions ---------------------------------------------------------------------------


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def moment_literal(moment: datetime, style: int) -> str:
    if style == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    if style == 1:  # an explicit +00:00 offset
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    shifted = moment + timedelta(hours=1)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+01:00"


def sampled(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(values))


number_literal = sampled([*INTEGERS, *DECIMALS]).map(str)
date_constant = st.one_of(
    sampled(DAYS).map(date.isoformat),
    st.just("today()"),
    sampled(DAY_SHIFTS).map(lambda d: f"today() - {d}"),
    st.tuples(sampled(DAYS), sampled(DAY_SHIFTS)).map(lambda t: f"{t[0].isoformat()} + {t[1]}"),
)
moment_constant = st.one_of(
    st.tuples(sampled(MOMENTS), st.integers(0, 2)).map(lambda t: moment_literal(*t)),
    st.just("now()"),
    st.tuples(sampled(["-", "+"]), sampled(MOMENT_SHIFTS)).map(lambda t: f"now() {t[0]} {t[1]}"),
    sampled(DAYS).map(date.isoformat),  # a date: midnight UTC
    st.just("today()"),
    sampled(MOMENT_SHIFTS[:3]).map(lambda d: f"{d} + now()"),
)


@st.composite
def comparison(draw: st.DrawFn, fields: list[str], constant: st.SearchStrategy[str]) -> str:
    field, op, value = draw(sampled(fields)), draw(sampled(OPS)), draw(constant)
    if field in DATE_FIELDS and draw(st.booleans()):
        field = f"{field} {draw(sampled(['+', '-']))} {draw(sampled(DAY_SHIFTS))}"
    if field in MOMENT_FIELDS and draw(st.booleans()):
        field = f"{field} {draw(sampled(['+', '-']))} {draw(sampled(MOMENT_SHIFTS))}"
    if draw(st.booleans()):
        return f"{value} {FLIP[op]} {field}"
    return f"{field} {op} {value}"


@st.composite
def membership(draw: st.DrawFn) -> str:
    kind = draw(sampled(["text", "code", "number", "date", "moment"]))
    if kind == "text":
        field, items = draw(sampled(TEXT_FIELDS)), st.lists(sampled(TEXTS).map(quote), min_size=1)
    elif kind == "code":
        field = draw(sampled(list(CODE_FIELDS)))
        items = st.lists(sampled(CODE_FIELDS[field]).map(quote), min_size=1)
    elif kind == "number":
        field, items = draw(sampled(NUMBER_FIELDS)), st.lists(number_literal, min_size=1)
    elif kind == "date":
        field, items = draw(sampled(DATE_FIELDS)), st.lists(date_constant, min_size=1)
    else:
        field, items = draw(sampled(MOMENT_FIELDS)), st.lists(moment_constant, min_size=1)
    word = draw(sampled(["in", "not in"]))
    return f"{field} {word} [{', '.join(draw(items.map(lambda v: v[:4])))}]"


@st.composite
def code_comparison(draw: st.DrawFn) -> str:
    field = draw(sampled(list(CODE_FIELDS)))
    return f"{field} {draw(sampled(['=', '!=']))} {quote(draw(sampled(CODE_FIELDS[field])))}"


@st.composite
def boolean_test(draw: st.DrawFn) -> str:
    field = draw(sampled(BOOLEAN_FIELDS))
    form = draw(st.integers(0, 2))
    if form == 0:
        return field
    return f"{field} {draw(sampled(['=', '!=']))} {draw(sampled(['true', 'false']))}"


atom = st.one_of(
    comparison(TEXT_FIELDS, sampled(TEXTS).map(quote)),
    comparison(NUMBER_FIELDS, number_literal),
    comparison(DATE_FIELDS, date_constant),
    comparison(MOMENT_FIELDS, moment_constant),
    code_comparison(),
    membership(),
    st.tuples(sampled(TEXT_FIELDS), sampled(NEEDLES)).map(
        lambda t: f"{t[0]} contains {quote(t[1])}"
    ),
    st.tuples(sampled(ALL_FIELDS), sampled(["is empty", "is not empty"])).map(" ".join),
    boolean_test(),
    sampled(["true", "false"]),
)

conditions = st.recursive(
    atom,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) and ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})\n  or ({t[1]})"),
        inner.map(lambda c: f"not ({c})"),
    ),
    max_leaves=6,
)

events = st.tuples(sampled([None, *EVENT_KINDS]), sampled([None, "alice", "bob"]))

# --- data -----------------------------------------------------------------------------------

Pick = Callable[[Sequence[Any]], Any]


def build(session, world, pick: Pick, count: int) -> None:
    """Companies, opportunities and ``count`` exchanges with values chosen by ``pick``."""
    for code in CATEGORIES:
        if code not in Catalogue.load(session).get("exchange.category").choices:
            categories.add_category(session, world.admin, code, label_fr=code)
    firms = []
    for _ in range(2):
        firm = companies.create_company(
            session,
            world.admin,
            name=pick(TEXTS),
            status=pick(COMPANY_STATUSES),
            owner=pick([None, *LOGINS]),
        )
        deals = []
        for _ in range(pick([0, 1, 2])):
            deal = opportunities.create_opportunity(
                session,
                world.admin,
                firm.id,
                title=pick(TEXTS),
                stage=pick(STAGES),
                amount=pick(AMOUNTS),
                expected_close=pick([None, *DAYS]),
                owner=pick(LOGINS),
            )
            if pick([False, True]):
                deal.owner_id = None
            deals.append(deal.id)
        firms.append((firm.id, deals))
    users = {u.login: u for u in (world.admin, world.alice, world.bob, world.carol)}
    for _ in range(count):
        company_id, deals = pick([(None, []), *firms])
        start = pick(MOMENTS)
        custom = {
            "ref": pick([None, *TEXTS]),
            "seats": pick([None, *INTEGERS]),
            "budget": pick([None, *DECIMALS]),
            "due": pick([None, *DAYS]),
            "urgent": pick([None, False, True]),
            "channel": pick([None, *CHOICES]),
        }
        exchanges.create_exchange(
            session,
            users[pick(LOGINS)],
            subject=pick(TEXTS),
            details=pick(["", *TEXTS]),
            start=start,
            end=start + pick(LENGTHS),
            action=pick(ACTIONS),
            status=pick(STATUSES),
            medium=pick([None, *MEDIA]),
            category=pick([None, *CATEGORIES]),
            private=pick([False, True]),
            company_id=company_id,
            opportunity_ids=pick([[], deals[:1], deals[1:], deals]),
            assignees=pick([["alice"], ["bob", "carol"], ["admin", "alice", "bob"]]),
            custom={k: v for k, v in custom.items() if v is not None},
        )
    session.flush()


def contexts(session) -> list[Context]:
    """The Python contexts of every exchange, reloaded from the database."""
    session.expire_all()
    return [exchange_context(session, ex, now=NOW) for ex in session.scalars(select(Exchange))]


def assert_agree(session, catalogue: Catalogue, source: str, data: list[Context], event) -> None:
    kind, actor = event
    condition = compile_condition(source, catalogue)
    by_sql = set(
        session.scalars(
            select(Exchange.id).where(condition.to_sql(NOW, event_kind=kind, event_actor=actor))
        )
    )
    by_python = {
        ctx.exchange_id
        for ctx in data
        if condition.evaluate(
            Context(NOW, {**ctx.values, "event.kind": kind, "event.actor": actor}, ctx.exchange_id)
        )
    }
    assert by_sql == by_python, (source, event, sorted(by_sql ^ by_python))


# --- the tests ----------------------------------------------------------------------------

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


def test_the_generators_cover_every_field(catalogue):
    assert set(ALL_FIELDS) == set(catalogue.fields)


@pytest.fixture
def dataset(world, session, fields):
    """About 40 exchanges chosen by a seeded generator, built once per database."""
    rng = Random(20260305)
    build(session, world, rng.choice, 40)
    return Catalogue.load(session), contexts(session)


@settings(max_examples=400, **SETTINGS)
@given(source=conditions, event=events)
def test_python_and_sql_agree_on_random_conditions(session, dataset, source, event):
    catalogue, data = dataset
    assert_agree(session, catalogue, source, data, event)


@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_python_and_sql_agree_on_random_data(session, world, fields, data):
    savepoint = session.begin_nested()
    try:
        build(session, world, lambda seq: data.draw(sampled(seq)), 16)
        catalogue, rows = Catalogue.load(session), contexts(session)
        for _ in range(12):
            assert_agree(session, catalogue, data.draw(conditions), rows, data.draw(events))
    finally:
        savepoint.rollback()
