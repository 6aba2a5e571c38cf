"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, Dialect, MetaData, String, TypeDecorator, func
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeEngine

from grc_core.timeutil import utcnow

# Stable constraint names let Alembic alter and drop constraints on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware date-time stored in UTC.

    PostgreSQL keeps ``timestamptz``.  SQLite has no date type: the value is stored as the
    text ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC (SQLAlchemy's own SQLite format, so it sorts
    and compares as text), written and read with the C-fast ``isoformat``/``fromisoformat``.
    Naive values are refused: guessing their zone is how appointments drift by an hour.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive date-time {value.isoformat()} cannot be stored; give a zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every GRC model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        ident: Any = getattr(self, "id", None)
        return f"<{type(self).__name__} {ident}>"


#: A creation or modification time-stamp, set by Python (microseconds, UTC) or the database.
Timestamp = Annotated[
    datetime, mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
]
