"""Driver-level multi-row inserts: PostgreSQL gets 100 rows and more by COPY; a refused
row is SQLAlchemy's IntegrityError on both databases, whichever way the rows went."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grc_core.db_rows import COPY_MIN_ROWS, insert_tuples
from grc_core.models import Scope, exchange_timeline


@pytest.mark.parametrize("count", [3, COPY_MIN_ROWS + 20])
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
