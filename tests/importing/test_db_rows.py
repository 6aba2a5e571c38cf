"""Driver-level multi-row inserts: PostgreSQL gets a few rows in one statement, 100 rows
and more by COPY; every row lands as given, and a refused row is SQLAlchemy's
IntegrityError on both databases, whichever way the rows went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grc_core.db_rows import COPY_MIN_ROWS, VALUES_MAX_ROWS, insert_tuples
from grc_core.models import Scope, exchange_timeline
from grc_core.services import exchanges


@pytest.mark.parametrize("count", [1, 3, VALUES_MAX_ROWS + 1, COPY_MIN_ROWS + 20])
def test_a_refused_row_is_an_integrity_error_whichever_way_the_rows_go(
    session: Session, count: int
) -> None:
    conn = session.connection()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(Scope.USER.value, 1, start, 10**9 + n) for n in range(count)]
    nested = conn.begin_nested()
    # No exchange 10**9: the timeline's foreign key refuses the rows.
    with pytest.raises(IntegrityError):
        insert_tuples(
            conn, exchange_timeline, ("scope", "scope_id", "start_at", "exchange_id"), rows
        )
    nested.rollback()
    assert session.scalar(select(func.count()).select_from(exchange_timeline)) == 0


@pytest.mark.parametrize("count", [1, 2, VALUES_MAX_ROWS, VALUES_MAX_ROWS + 1, COPY_MIN_ROWS])
def test_every_row_lands_with_its_values_whichever_way_the_rows_go(
    session: Session, world, count: int
) -> None:
    exchange = exchanges.create_exchange(
        session, world.alice, subject="Rows", start=world.at(), action="call"
    )
    session.flush()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (Scope.USER.value, 10**6 + n, start + timedelta(minutes=n), exchange.id)
        for n in range(count)
    ]
    conn = session.connection()
    insert_tuples(conn, exchange_timeline, ("scope", "scope_id", "start_at", "exchange_id"), rows)
    stored = conn.execute(
        select(
            exchange_timeline.c.scope,
            exchange_timeline.c.scope_id,
            exchange_timeline.c.start_at,
            exchange_timeline.c.exchange_id,
        )
        .where(exchange_timeline.c.scope_id >= 10**6)
        .order_by(exchange_timeline.c.scope_id)
    ).all()
    assert [tuple(r) for r in stored] == rows
