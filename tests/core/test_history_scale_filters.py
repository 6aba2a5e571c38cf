"""Filtered histories read through the timeline's filter indexes return exactly what the
filter's definition keeps: checked against a plain Python filter over every exchange, on
both databases, after creations and after updates of the filtered fields; and migration
0010's backfill writes the rows the services write."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session
from tests.conftest import World

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.errors import ValidationError
from grc_core.models import Exchange, User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter, FieldCondition
from grc_core.services import categories, custom_fields, exchanges
from grc_core.services.bulk import ExchangeRecord, import_exchanges
from grc_core.visibility import can_see

ACTIONS = ("call", "letter", "note", "meeting")
STATUSES = ("planned", "done")
CHANNELS = ("web", "salon", "phone")
CATEGORIES = (None, "support", "support_n1", "support_n2", "sales")


def _setup(world: World) -> None:
    s, admin = world.session, world.admin
    categories.add_category(s, admin, "support", label_fr="Support")
    categories.add_category(s, admin, "support_n1", label_fr="Niveau 1", parent="support")
    categories.add_category(s, admin, "support_n2", label_fr="Niveau 2", parent="support_n1")
    categories.add_category(s, admin, "sales", label_fr="Ventes")
    custom_fields.define_field(s, admin, "channel", label="Canal", type="choice", choices=CHANNELS)


def _fill(world: World, count: int, seed: int) -> list[Exchange]:
    rng = random.Random(seed)
    authors = [world.alice, world.bob, world.carol]
    made = []
    for i in range(count):
        company = rng.choice([world.acme, world.other, None])
        opps: list[int] = []
        contacts: list[int] = []
        if company is world.acme:
            opps = rng.sample([world.deal1.id, world.deal2.id], rng.randint(0, 2))
            contacts = [world.acme_contact.id] if rng.random() < 0.3 else []
        channel = rng.choice((None, *CHANNELS))
        made.append(
            exchanges.create_exchange(
                world.session,
                rng.choice(authors),
                subject=f"x{i}",
                # Some exchanges share a start: the id breaks the tie.
                start=world.at(rng.randint(0, 40) * 6),
                action=rng.choice(ACTIONS),
                status=rng.choice(STATUSES),
                category=rng.choice(CATEGORIES),
                company_id=company.id if company else None,
                opportunity_ids=opps,
                contact_ids=contacts,
                assignees=[u.login for u in rng.sample(authors, rng.randint(1, 2))],
                private=rng.random() < 0.25,
                custom={"channel": channel} if channel else None,
            )
        )
    return made


def _below(world: World, code: str) -> set[str]:
    ids = categories.descendant_ids(world.session, categories.get_category(world.session, code).id)
    return {c.code for c in categories.list_categories(world.session) if c.id in ids}


def _keeps(world: World, flt: ExchangeFilter) -> Callable[[Exchange], bool]:
    """The filter's definition, in Python."""
    cats = _below(world, flt.category) if flt.category else None
    custom = dict(flt.custom) if not isinstance(flt.custom, tuple) else {}
    custom |= {c.code: c.value for c in flt.custom if isinstance(flt.custom, tuple)}

    def keep(e: Exchange) -> bool:
        return (
            (flt.since is None or e.start_at >= flt.since)
            and (flt.until is None or e.start_at < flt.until)
            and (not flt.actions or e.action.code in flt.actions)
            and (not flt.statuses or e.status.code in flt.statuses)
            and (cats is None or (e.category is not None and e.category.code in cats))
            and all(e.custom.get(code) == value for code, value in custom.items())
            and (flt.author_id is None or e.author_id == flt.author_id)
            and (flt.private is None or e.private == flt.private)
        )

    return keep


def _scopes(
    world: World,
) -> list[tuple[Callable[..., history.Page], int, Callable[[Exchange], bool]]]:
    acme, deal = world.acme.id, world.deal1.id
    alice = world.alice.id
    return [
        (
            history.company_history,
            acme,
            lambda e: (
                e.company_id == acme
                or any(o.company_id == acme for o in e.opportunities)
                or any(c.company_id == acme for c in e.contacts)
            ),
        ),
        (history.opportunity_history, deal, lambda e: any(o.id == deal for o in e.opportunities)),
        (
            history.user_history,
            alice,
            lambda e: e.author_id == alice or any(u.id == alice for u in e.assignees),
        ),
        # The global history walks the exchanges' partial indexes (migration 0013).
        (_global_history, 0, lambda e: e.company_id is None),
    ]


def _global_history(
    session: Session, reader: User, _ident: int, flt: ExchangeFilter, **page: object
) -> history.Page:
    return history.global_history(session, reader, flt, **page)  # type: ignore[arg-type]


def _walk(fetch: Callable[..., history.Page], session: Session, reader: User, ident: int,
          flt: ExchangeFilter, size: int) -> list[int]:  # fmt: skip
    ids: list[int] = []
    cursor = None
    while True:
        page = fetch(session, reader, ident, flt, limit=size, cursor=cursor)
        ids += [e.id for e in page.entries]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def _filters(world: World) -> list[ExchangeFilter]:
    week = (world.at(48), world.at(48 + 24 * 7))
    return [
        ExchangeFilter(actions=("call",)),
        ExchangeFilter(actions=("call", "meeting")),
        ExchangeFilter(actions=("nothing_like_it",)),
        ExchangeFilter(statuses=("done",)),
        ExchangeFilter(category="support"),
        ExchangeFilter(category="support_n2"),
        ExchangeFilter(category="sales", actions=("note", "letter")),
        ExchangeFilter(custom={"channel": "salon"}),
        ExchangeFilter(custom=(FieldCondition("channel", "eq", "web"),), actions=("call",)),
        ExchangeFilter(custom={"channel": "phone"}, since=week[0], until=week[1]),
        ExchangeFilter(actions=("meeting",), since=week[0], until=week[1]),
        ExchangeFilter(category="support", since=week[0]),
        ExchangeFilter(since=week[0], until=week[1]),
        # Beyond the filters a history offers: statements built per call, same drivers.
        ExchangeFilter(actions=("call", "note"), author_id=world.alice.id),
        ExchangeFilter(category="support", private=False),
        ExchangeFilter(custom=(FieldCondition("channel", "eq", "web"),) * 2, since=week[0]),
    ]


def _check_all(world: World, session: Session) -> int:
    everything = list(session.scalars(select(Exchange)).unique())
    checked = 0
    for reader in (world.bob, world.admin):
        for fetch, ident, in_scope in _scopes(world):
            for flt in _filters(world):
                keep = _keeps(world, flt)
                expected = [
                    e.id
                    for e in sorted(everything, key=lambda e: (e.start_at, e.id), reverse=True)
                    if in_scope(e) and keep(e) and can_see(reader, e)
                ]
                for size in (3, 50):
                    got = _walk(fetch, session, reader, ident, flt, size)
                    assert got == expected, (fetch.__name__, flt, size)
                checked += len(expected)
    return checked


def test_filtered_histories_match_the_definition(world, session):
    _setup(world)
    _fill(world, 90, seed=13)
    assert _check_all(world, session) > 100  # the filters keep something to compare


def test_updates_of_filtered_fields_move_the_index_rows(world, session):
    _setup(world)
    made = _fill(world, 50, seed=7)
    rng = random.Random(3)
    for e in rng.sample(made, 20):
        # Exchanges with no opportunity or contact move between a company and none: out of
        # the global history's indexes and into a company's timeline, or back.
        moves = {} if e.opportunities or e.contacts else {"company_id": rng.choice(
            [world.acme.id, world.other.id, None])}  # fmt: skip
        exchanges.update_exchange(
            session,
            world.admin,
            e.id,
            **moves,
            action=rng.choice(ACTIONS),
            status=rng.choice(STATUSES),
            category=rng.choice(CATEGORIES),
            custom={"channel": rng.choice((None, *CHANNELS))},
            start=(moved := e.start_at + timedelta(hours=rng.randint(-30, 30))),
            end=moved,
        )
    # A category moved under another: its exchanges follow it into the parent's filter.
    categories.update_category(session, world.admin, "sales", parent="support_n1")
    for e in rng.sample(made, 5):
        exchanges.delete_exchange(session, world.admin, e.id)
    session.expire_all()
    assert _check_all(world, session) > 50


def test_a_choice_filter_reads_the_choice_timeline(world, session):
    _setup(world)
    _fill(world, 10, seed=1)
    flt = ExchangeFilter(custom={"channel": "web"})
    driver = history._driver(session, flt)
    assert driver is not None and driver.table.name == "exchange_timeline_choices"
    # A category with its children: one range per category, merged.
    driver = history._driver(session, ExchangeFilter(category="support"))
    assert driver is not None and len(driver.branches) == 3
    assert history._driver(session, ExchangeFilter(actions=("no_such",))) is None


def test_filtered_statements_are_built_once_per_shape(world, session):
    _setup(world)
    _fill(world, 20, seed=2)
    first = ExchangeFilter(actions=("call",), since=world.at(0))
    history.company_history(session, world.bob, world.acme.id, first)
    before = history._shaped.cache_info()
    # Other values, same shape: the statement is reused, the values bound.
    again = ExchangeFilter(actions=("note",), since=world.at(10))
    page = history.company_history(session, world.bob, world.acme.id, again)
    after = history._shaped.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert all(e.action == "note" and e.start_at >= world.at(10) for e in page.entries)


def _timeline_rows(conn) -> list[tuple[object, ...]]:
    rows = conn.execute(
        text(
            "SELECT scope, scope_id, exchange_id, action_id, status_id, category_id"
            " FROM exchange_timeline ORDER BY 1, 2, 3"
        )
    ).all()
    choices = conn.execute(
        text(
            "SELECT scope, scope_id, field_id, value, exchange_id"
            " FROM exchange_timeline_choices ORDER BY 1, 2, 3, 4, 5"
        )
    ).all()
    return [tuple(r) for r in rows] + [("choice", *r) for r in choices]


def test_migration_0010_backfills_what_the_services_write(fresh_url):
    engine = create_db_engine(fresh_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as session:
            world = World(session)
            _setup(world)
            _fill(world, 40, seed=5)
            session.commit()
        with engine.connect() as conn:
            written = _timeline_rows(conn)
        assert any(r[0] == "choice" for r in written)
        assert any(r[5] is not None for r in written if r[0] != "choice")
        schema.downgrade(engine, "0009")
        with engine.connect() as conn:
            names = {c["name"] for c in inspect(conn).get_columns("exchange_timeline")}
            assert "action_id" not in names
        # 0010 writes the rows of the scopes it knew; 0014 adds the global scope's choices.
        schema.upgrade(engine)
        with engine.connect() as conn:
            assert _timeline_rows(conn) == written
    finally:
        engine.dispose()


def test_bulk_import_writes_the_filter_columns(world, session):
    _setup(world)
    records = [
        ExchangeRecord(
            subject=f"imported {i}",
            start=world.at(i),
            action=ACTIONS[i % len(ACTIONS)],
            status=STATUSES[i % len(STATUSES)],
            category=CATEGORIES[i % len(CATEGORIES)],
            author_id=world.alice.id,
            company_id=world.acme.id,
            opportunity_ids=(world.deal1.id,) if i % 2 else (),
        )
        for i in range(12)
    ]
    import_exchanges(session, world.admin, records, batch_size=5)
    differing = session.execute(
        text(
            "SELECT count(*) FROM exchange_timeline t JOIN exchanges e ON e.id = t.exchange_id"
            " WHERE t.action_id IS DISTINCT FROM e.action_id"
            " OR t.status_id IS DISTINCT FROM e.status_id"
            " OR t.category_id IS DISTINCT FROM e.category_id"
            if session.get_bind().dialect.name == "postgresql"
            else "SELECT count(*) FROM exchange_timeline t JOIN exchanges e"
            " ON e.id = t.exchange_id WHERE t.action_id IS NOT e.action_id"
            " OR t.status_id IS NOT e.status_id OR t.category_id IS NOT e.category_id"
        )
    ).scalar_one()
    assert differing == 0
    page = history.company_history(session, world.bob, world.acme.id, ExchangeFilter(
        category="support", actions=("call", "note")))  # fmt: skip
    expected = [
        r.subject
        for r in reversed(records)
        if r.category in {"support", "support_n1", "support_n2"} and r.action in {"call", "note"}
    ]
    assert [e.subject for e in page.entries] == expected and expected


def test_a_filter_naming_what_does_not_exist_is_refused_as_elsewhere(world, session):
    _setup(world)
    custom_fields.define_field(session, world.admin, "note", label="Note", type="text")
    page = partial(history.company_history, session, world.alice, world.acme.id)
    with pytest.raises(ValidationError, match="salle"):  # not among the choices
        page(ExchangeFilter(custom={"channel": "salle"}))
    with pytest.raises(ValidationError, match="unknown custom field 'nothing'"):
        page(ExchangeFilter(custom={"nothing": "x"}))
    with pytest.raises(ValidationError, match="unknown category 'nowhere'"):
        page(ExchangeFilter(category="nowhere"))
    # A text field's equality is a filter of its own kind (built per call), still answered.
    assert page(ExchangeFilter(custom={"note": "x"})).entries == []
    # The subtree of a category is read from the whole tree, its grandchildren included.
    made = exchanges.create_exchange(
        session, world.alice, subject="Deep", start=world.at(), action="call",
        company_id=world.acme.id, category="support_n2",
    )  # fmt: skip
    assert [e.id for e in page(ExchangeFilter(category="support")).entries] == [made.id]
    assert page(ExchangeFilter(category="sales")).entries == []
