"""A record read with one plain SELECT of its row and joined to the session as if loaded.

The ORM's load by primary key costs about twice the plain read (result machinery, loader
options, identity bookkeeping); hot paths that read one record by id in a new session (the
acting user of every API request, a new exchange's company) use this instead.  The object
is a full persistent entity: its columns set, its relationships read when first used, its
changes tracked and versioned as for any loaded one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

from grc_core.driver_statements import DriverRead

T = TypeVar("T")


@functools.cache
def _row_of(table: Table) -> DriverRead:
    """Built once per table: a statement used again keeps its cache key; read on the
    driver's cursor (:mod:`grc_core.driver_statements`)."""
    return DriverRead(select(*table.columns).where(table.c.id == bindparam("ident")))


def read_as_loaded(session: Session, model: type[T], ident: int, **get: Any) -> T | None:
    """The ``model`` record ``ident``, or ``None``.

    One the session holds is its own, through :meth:`Session.get` with ``get``'s options
    (expired or deleted included); another is read with a plain SELECT of its row, after
    the autoflush the load would have done, and joins the session as if loaded.
    """
    if identity_key(model, ident) in session.identity_map:
        return session.get(model, ident, **get)
    if session.autoflush:
        session.flush()
    table = cast(Table, cast(Any, model).__table__)
    read = _row_of(table)
    rows = read.rows(session.connection(), {"ident": ident})
    if not rows:
        return None
    return join_as_loaded(session, model, dict(zip(read.keys, rows[0], strict=True)))


def join_as_loaded(session: Session, model: type[T], row: Mapping[Any, Any]) -> T:
    """The record whose row is ``row`` (every column of ``model``'s table, by name), joined
    to ``session`` as if loaded; the session's own copy when it holds one."""
    held = session.identity_map.get(identity_key(model, row["id"]))
    if held is not None:
        return held
    # Filled as a load fills it: the values go straight into the instance's dict, where the
    # constructor would set each one through its attribute events (a third of the read).
    record: T = inspect(model).class_manager.new_instance()
    instance_state(record).dict.update(row)
    make_transient_to_detached(record)
    session.add(record)
    return record
