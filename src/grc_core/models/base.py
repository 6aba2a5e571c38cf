"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, SafeUUID

from sqlalchemy import DateTime, Dialect, Integer, MetaData, String, TypeDecorator, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
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
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # SQLite's stored text is read in one C call: ``replace(tzinfo=...)`` after
        # ``fromisoformat`` cost ten times as much, twice per history entry.
        if dialect.name == "sqlite":
            return _read_sqlite_moment
        return _read_aware_moment


def _read_aware_moment(value: datetime | None) -> datetime | None:
    """A date-time from the driver (PostgreSQL's ``timestamptz``) in UTC: as it is when its
    zone is already UTC (GRC's connections ask for it), else converted."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:  # a plain timestamp, from a column or expression of that type
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _read_sqlite_moment(value: str | None) -> datetime | None:
    """A stored UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``) as an aware date-time."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")  # the UTC singleton as its zone
    except ValueError:  # a text that carries its own offset (written by another tool)
        return datetime.fromisoformat(value).astimezone(UTC)


class ReadUuid(TypeDecorator[UUID]):
    """A ``Uuid`` column as list pages read it: on SQLite, its stored 32 hexadecimal digits
    become a :class:`~uuid.UUID` in a quarter of the time ``UUID(hex)`` takes (its checks
    and keyword handling are most of the cost: one per history entry).  Apply it to a
    selected column with ``type_coerce``; writing is ``Uuid``'s own.
    """

    impl = Uuid
    cache_ok = True

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], UUID | None] | None:
        if dialect.name == "sqlite":
            return _read_uuid_hex
        return super().result_processor(dialect, coltype)


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown


def _read_uuid_hex(value: str | None) -> UUID | None:
    """``UUID(value)``, built directly from the 32 digits SQLAlchemy stores on SQLite."""
    if value is None:
        return None
    if len(value) != 32:
        return UUID(value)  # another spelling (dashes, braces), or the usual error
    try:
        number = int(value, 16)
    except ValueError:
        return UUID(value)  # raises the usual error
    # UUID is immutable (its __setattr__ refuses): its own constructor sets these two
    # slots the same way.
    found: UUID = _new(UUID)
    _set(found, "int", number)
    _set(found, "is_safe", _UNKNOWN)
    return found


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


class Versioned:
    """Mixin of every mutable record: an optimistic-concurrency ``version``.

    It is 1 on creation and the ORM increments it on every UPDATE of the row, which it runs
    as ``UPDATE ... WHERE id = :id AND version = :version_read`` and so detects an update
    lost to a concurrent writer (:class:`sqlalchemy.orm.exc.StaleDataError`, which the
    services turn into :class:`grc_core.errors.VersionConflict`).  Rows written outside the
    ORM (bulk import) get the server default, 1.
    """

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


#: Table options of every table whose integer ids other records refer to: on SQLite,
#: AUTOINCREMENT stops the largest id from being handed out again after a delete (audit
#: events, deliveries and inbox items about a deleted record must never designate a new
#: one).  PostgreSQL sequences never reuse a value anyway.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}
