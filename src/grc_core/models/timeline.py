"""The timeline index: which exchanges each company, opportunity and user has, by date.

A company's history is its own exchanges *and* those linked to its opportunities and
contacts (R2); a user's is what they authored or were assigned.  Computing those unions at
read time costs a sort of every candidate row; keeping one row per (scope, exchange) here,
ordered like the pages are read, makes page 1 and page 500 a single index range scan each.
The services keep it in step with every write, in the same transaction.
"""

from __future__ import annotations

import enum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from grc_core.models.base import Base, UTCDateTime


class Scope(enum.StrEnum):
    """Whose history a timeline row belongs to."""

    COMPANY = "c"
    OPPORTUNITY = "o"
    USER = "u"


exchange_timeline = Table(
    "exchange_timeline",
    Base.metadata,
    Column("scope", String(1), primary_key=True),
    Column("scope_id", Integer, primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_exchange_timeline_exchange", "exchange_id"),
    # The primary key is the walk order; on SQLite the table is the index itself.
    sqlite_with_rowid=False,
)
