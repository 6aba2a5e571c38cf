"""History pages: the two-step query shape, the shared statement for empty filters, and
assignees read through one statement whatever the page size."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.services import exchanges


def _add(world, subject, hours, **kw):
    args = {"subject": subject, "start": world.at(hours), "action": "call"} | kw
    return exchanges.create_exchange(world.session, world.alice, **args)


def test_an_empty_filter_is_no_filter_whatever_holds_its_custom_conditions():
    assert history.is_empty(ExchangeFilter())
    assert history.is_empty(ExchangeFilter(custom=()))
    assert history.is_empty(ExchangeFilter(custom={}))
    assert not history.is_empty(ExchangeFilter(private=False))
    assert not history.is_empty(ExchangeFilter(custom={"budget": 1}))
    assert not history.is_empty(ExchangeFilter(actions=("call",)))


def test_empty_filters_share_the_prepared_statement_and_the_cursors(world, session):
    for i in range(3):
        _add(world, f"e{i}", i, company_id=world.acme.id)
    plain = history.company_history(session, world.bob, world.acme.id, limit=2)
    before = history._prepared.cache_info()
    built = history.company_history(
        session, world.bob, world.acme.id, ExchangeFilter(custom=()), limit=2
    )
    after = history._prepared.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert [e.id for e in built.entries] == [e.id for e in plain.entries]
    # The cursor of one is the cursor of the other: same query, same fingerprint.
    rest = history.company_history(
        session, world.bob, world.acme.id, ExchangeFilter(custom=()), cursor=plain.next_cursor
    )
    assert [e.subject for e in rest.entries] == ["e0"]


def test_a_page_is_selected_before_its_names_are_joined():
    sql = str(
        history._statement("c", "user", True, (), "postgresql").compile(
            dialect=postgresql.dialect()
        )
    ).replace("\n", " ")
    inner = sql[sql.index("FROM (") : sql.index(") AS page")]
    # The page itself: the timeline and the exchanges only (plus the assignee EXISTS of the
    # visibility rule), ordered and limited; names and codes are looked up outside it.
    assert "exchange_timeline JOIN exchanges" in inner
    assert "LIMIT" in inner
    for lookup in ("picklist_values", "categories", "companies", "users"):
        assert lookup not in inner
    outer = sql[sql.index(") AS page") :]
    assert "LIMIT" not in outer
    assert "ORDER BY page.key_start DESC, page.id DESC" in outer


def test_assignees_of_pages_of_any_size(world, session):
    made = [
        _add(world, f"a{i}", i, company_id=world.acme.id, assignees=["bob", "alice"][: 1 + i % 2])
        for i in range(7)
    ]
    for size in (1, 3, 7):
        page = history.company_history(session, world.alice, world.acme.id, limit=size)
        expected = {e.id: ("alice", "bob") if i % 2 else ("bob",) for i, e in enumerate(made)}
        assert [e.id for e in page.entries] == [e.id for e in reversed(made)][:size]
        for entry in page.entries:
            assert entry.assignees == expected[entry.id]


def test_postgresql_plans_the_page_without_the_lookups(world, session):
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the page comes first too (its order is the page's, not a re-sort).
        _add(world, "one", 1, company_id=world.acme.id)
        assert [e.subject for e in history.company_history(
            session, world.bob, world.acme.id).entries] == ["one"]  # fmt: skip
        return
    _add(world, "one", 1, company_id=world.acme.id)
    stmt = history._statement("c", "user", False, (), session.get_bind().dialect.name)
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    params = compiled.construct_params(
        {"scope_id": world.acme.id, "reader_id": world.bob.id, "page_size": 51}
    )
    rows = session.connection().exec_driver_sql("EXPLAIN " + str(compiled), params)
    plan = "\n".join(r[0] for r in rows)
    # The limit applies to the timeline walk, below every lookup join.
    limit_at = plan.index("Limit")
    assert "exchange_timeline" in plan[limit_at:]
    assert plan.count("Limit") == 1


def test_a_date_filtered_company_page_is_a_range_of_the_timeline(world, session):
    from datetime import timedelta

    for day in range(20):
        _add(world, f"d{day}", 24 * day, company_id=world.acme.id)
    since, until = world.at(24 * 5), world.at(24 * 12)
    flt = ExchangeFilter(since=since, until=until)
    page = history.company_history(session, world.bob, world.acme.id, flt, limit=3)
    assert [e.subject for e in page.entries] == ["d11", "d10", "d9"]
    rest = history.company_history(
        session, world.bob, world.acme.id, flt, limit=10, cursor=page.next_cursor
    )
    assert [e.subject for e in rest.entries] == ["d8", "d7", "d6", "d5"]
    assert all(since <= e.start_at < until for e in page.entries + rest.entries)
    assert until - since == timedelta(days=7)

    conds = history.filter_conditions(session, flt) + history._timeline_bounds(flt)
    stmt = history._statement("c", "user", False, conds, session.get_bind().dialect.name)
    bind = session.get_bind()
    compiled = stmt.compile(dialect=bind.dialect)
    params = compiled.construct_params(
        {"scope_id": world.acme.id, "reader_id": world.bob.id, "page_size": 51}
    )
    conn = session.connection()
    if bind.dialect.name == "postgresql":
        # On a few rows (and statistics left by earlier tests) the planner may rather sort a
        # walk of the exchanges' own date index; without sorting, the plan shows that the
        # bounds reach the timeline's key, which is what a large table uses.
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), params))
        conn.exec_driver_sql("SET LOCAL enable_sort = on")
        lines = plan.splitlines()
        scan = next(i for i, line in enumerate(lines) if "on exchange_timeline" in line)
        assert "Index Cond" in lines[scan + 1] and "start_at >=" in lines[scan + 1], plan
    else:
        positional = compiled.construct_params(params)
        values = tuple(positional[name] for name in compiled.positiontup)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), values).all()
        plan = "\n".join(str(r[-1]) for r in rows)
        assert "start_at>? AND start_at<?" in plan, plan


def test_a_page_and_its_assignees_are_one_statement(world, session):
    from sqlalchemy import event

    made = [
        _add(world, f"s{i}", i, company_id=world.acme.id, assignees=["carol", "bob"][: 1 + i % 2])
        for i in range(4)
    ]
    history.company_history(session, world.bob, world.acme.id)  # statement built and cached
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = history.company_history(session, world.bob, world.acme.id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    expected = {e.id: ("bob", "carol") if i % 2 else ("carol",) for i, e in enumerate(made)}
    assert {e.id: e.assignees for e in page.entries} == expected
