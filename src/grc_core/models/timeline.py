"""The timeline index: which exchanges each company, opportunity and user has, by date.

A company's history is its own exchanges *and* those linked to its opportunities and
contacts (R2); a user's is what they authored or were assigned.  Computing those unions at
read time costs a sort of every candidate row; keeping one row per (scope, exchange) here,
ordered like the pages are read, makes page 1 and page 500 a single index range scan each.
The services keep it in step with every write, in the same transaction.

The columns a history filters on (action, status, category) are copied onto each row, and
each has an index (scope, scope_id, value, start, exchange): a page filtered on one action
of a company is a range scan of that action's rows, not a walk through the company's
timeline until enough matches turn up (migration 0010).  Choice-field values, whose fields
are defined at run time, have a table of their own with the same shape; it also holds the
values of the exchanges linked to no company, under :data:`GLOBAL_SCOPE` (migration 0014),
so that the global history filtered on a value is a range scan too.
"""

from __future__ import annotations

import enum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from grc_core.models.base import Base, UTCDateTime
from grc_core.models.event import partial_index
from grc_core.models.exchange import Exchange


class Scope(enum.StrEnum):
    """Whose history a timeline row belongs to."""

    COMPANY = "c"
    OPPORTUNITY = "o"
    USER = "u"


#: The scope of the choice-value rows of the exchanges linked to no company (the global
#: history's), with :data:`GLOBAL_SCOPE_ID` as its id.  Only the choice-value timeline has
#: it: the global history walks the exchanges' own partial indexes otherwise.
GLOBAL_SCOPE = "g"
GLOBAL_SCOPE_ID = 0

#: The columns ending every timeline index: the page's order, newest first when walked back.
_KEY_TAIL = ("start_at", "exchange_id")

exchange_timeline = Table(
    "exchange_timeline",
    Base.metadata,
    Column("scope", String(1), primary_key=True),
    Column("scope_id", Integer, primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    # Copies of the exchange's own columns (no foreign keys: this is an index, rewritten
    # with the exchange); NULL only where the exchange's is.
    Column("action_id", Integer),
    Column("status_id", Integer),
    Column("category_id", Integer),
    Index("ix_exchange_timeline_exchange", "exchange_id"),
    *(
        Index(f"ix_exchange_timeline_{name}", "scope", "scope_id", f"{name}_id", *_KEY_TAIL)
        for name in ("action", "status", "category")
    ),
    # The primary key is the walk order; on SQLite the table is the index itself.
    sqlite_with_rowid=False,
)

exchange_timeline_choices = Table(
    "exchange_timeline_choices",
    Base.metadata,
    Column("scope", String(1), primary_key=True),
    Column("scope_id", Integer, primary_key=True),
    Column("field_id", Integer, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_exchange_timeline_choices_exchange", "exchange_id"),
    sqlite_with_rowid=False,
)

#: The global history's timeline: indexes of the exchanges linked to no company only (5 % of
#: them), walked as a company's timeline is (:mod:`grc_core.queries.history`).
_exchanges = Exchange.__table__
_global = _exchanges.c.company_id.is_(None)
GLOBAL_INDEXES = tuple(
    partial_index(
        f"ix_exchanges_global_{name}", *(_exchanges.c[column] for column in columns), where=_global
    )
    for name, columns in (
        ("start", ("start_at", "id")),
        ("action", ("action_id", "start_at", "id")),
        ("status", ("status_id", "start_at", "id")),
        ("category", ("category_id", "start_at", "id")),
    )
)
