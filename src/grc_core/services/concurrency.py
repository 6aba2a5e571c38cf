"""Optimistic concurrency: record versions, row locks, lost-update detection.

Every mutable record has a ``version`` (see :class:`grc_core.models.base.Versioned`): 1 on
creation, incremented by the ORM on each UPDATE of its row.  An update service follows
three steps, in the caller's transaction:

1. load the row with :func:`lock_for_update` (a row lock on PostgreSQL; on SQLite a writing
   transaction already holds the database's write lock, see :mod:`grc_core.db`), so that
   concurrent updates without a version queue behind each other and each one reads the
   state the previous one committed — the "before" values of its audit event are then
   exactly the "after" values of the previous event;
2. call :func:`check_version` with the version the caller read (``None``: no check);
3. change the record and flush inside :func:`stale_as_conflict`, which turns the ORM's
   lost-update detection into :class:`~grc_core.errors.VersionConflict` should a writer
   that skipped step 1 have changed the row meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from grc_core.db import READ_ONLY
from grc_core.errors import ValidationError, VersionConflict

T = TypeVar("T")


def check_version(record: Any, expected: int | None, label: str) -> None:
    """Refuse to change ``record`` if it is no longer at the version the caller read.

    Call it after loading the record with :func:`lock_for_update` and before changing
    anything, so that a refusal leaves everything as it was.

    :param record: a loaded model instance with a ``version`` attribute.
    :param expected: the version the caller read (e.g. from an ``If-Match`` header or
        ``--if-version``); ``None`` skips the check (last writer wins, still serialised).
    :param label: how messages name the record, e.g. ``"exchange 12"``.
    :raises ValidationError: ``expected`` is not a positive integer.
    :raises VersionConflict: the stored version differs from ``expected``.
    """
    if expected is None:
        return
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
        raise ValidationError(
            f"invalid expected version {expected!r} for {label}: give the positive integer "
            "version you read, or none to skip the check",
            field="version",
        )
    current = record.version
    if current != expected:
        raise VersionConflict(label, expected=expected, current=current)


def lock_rows(session: Session, model: type[Any], idents: Iterable[Any]) -> None:
    """Lock the ``model`` rows with these primary keys until the transaction ends.

    PostgreSQL: ``SELECT id ... ORDER BY id FOR NO KEY UPDATE`` — the lock an UPDATE that
    keeps the key takes, so inserts of rows that refer to the record (foreign-key checks
    take ``KEY SHARE``) are not blocked, and sorted ids keep concurrent multi-row lockers
    from deadlocking.  Only the record's own table is in the statement: re-checking a locked
    row that another transaction changed meanwhile re-reads that row only, and a join would
    pair it with stale rows.  SQLite: nothing to do, a writing transaction already holds the
    database's write lock (``BEGIN IMMEDIATE``, see :mod:`grc_core.db`).
    """
    keys = sorted(set(idents))
    if not keys or session.get_bind().dialect.name != "postgresql":
        return
    mapper: Any = model
    pk = mapper.__mapper__.primary_key
    if len(pk) != 1:
        raise TypeError(f"{mapper.__name__} has a composite primary key")
    stmt = select(pk[0]).where(pk[0].in_(keys)).order_by(pk[0]).with_for_update(key_share=True)
    session.execute(stmt)


def fresh(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` overwriting what the session already holds for the rows it loads.

    Run it after :func:`lock_rows`: the caller then reads the state the previous writer
    committed (attributes and eagerly loaded collections alike), not an older copy kept in
    the session's identity map.
    """
    return stmt.execution_options(populate_existing=True)


def lock_for_update(session: Session, model: type[T], ident: Any) -> T | None:
    """Lock the ``model`` row with primary key ``ident`` and load it as now committed.

    Returns ``None`` when there is no such row.
    """
    lock_rows(session, model, [ident])
    mapper: Any = model
    pk = mapper.__mapper__.primary_key[0]
    return session.scalars(fresh(select(model).where(pk == ident))).unique().one_or_none()


@contextmanager
def stale_as_conflict(record: Any, label: str) -> Iterator[None]:
    """Turn the ORM's lost-update detection (``StaleDataError``) into a ``VersionConflict``.

    Wrap the flush that writes ``record``.  The caller's transaction must then be rolled
    back (as after any failed flush); nothing of the change is kept.
    """
    expected = record.version
    try:
        yield
    except StaleDataError as exc:
        raise VersionConflict(label, expected=expected, current=_current_version(record)) from exc


def _current_version(record: Any) -> int:
    # The failed flush left the session unusable until rollback: read the stored version on
    # another connection, as a reader (no write lock to wait for on SQLite).  Best effort:
    # the record is reported as changed either way.
    state = inspect(record)
    session = state.session
    if session is None or state.identity is None:
        return 0
    mapper = state.mapper
    try:
        engine = session.get_bind().engine
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            value = conn.execute(
                select(mapper.c.version).where(mapper.primary_key[0] == state.identity[0])
            ).scalar_one_or_none()
    except Exception:
        return 0
    return int(value) if value is not None else 0
