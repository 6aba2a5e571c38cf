"""Fixed reads run straight on the database driver's cursor.

Every history page, and the acting user of every API request, is one cached SELECT.  Run
through SQLAlchemy, each execution still builds an execution context, asks the driver for
its column descriptions (psycopg makes an object per column) and makes a ``Row`` per
result row: on PostgreSQL about a third of the CPU a history page costs beyond the
driver's own work.  :class:`DriverRead` compiles its statement once per dialect and runs
it on the driver's cursor, with the same parameters, the same conversions both ways (the
columns' bind and result processors) and GRC's parameter check
(:func:`grc_core.db.check_parameters`); a database error is raised as SQLAlchemy raises
it (a :class:`sqlalchemy.exc.DBAPIError`, a lost connection invalidated).

It steps aside, and the statement runs through SQLAlchemy as usual, whenever something
watches statements: ``echo`` or INFO logging of ``sqlalchemy.engine``, a listener of the
connection's execution events other than GRC's own check (a host's tracing, a test
counting statements), or an execution option it does not know.  A statement it cannot run as
compiled once (expanding ``IN`` lists, escaped parameter names) always goes through
SQLAlchemy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from grc_core.db import READ_ONLY, check_parameters, check_statement_parameters

#: The connection events a watcher of statements listens to (and the dialect's
#: ``handle_error``, checked apart).
_WATCHED = ("before_execute", "after_execute", "before_cursor_execute", "after_cursor_execute")
#: Execution options that change nothing in how a plain SELECT runs on the driver.
_HARMLESS_OPTIONS = frozenset({READ_ONLY, "isolation_level"})


@dataclass(frozen=True)
class _Compiled:
    """A statement as one dialect runs it."""

    sql: str
    #: Builds the bound values (literal ones included) from the caller's parameters.
    construct: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: The parameter names in order, for a positional paramstyle (SQLite's ``?``).
    positions: tuple[str, ...] | None
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


class DriverRead:
    """A SELECT read on the driver's cursor (see the module's documentation)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        #: The result columns' names, in order.
        self.keys: tuple[str, ...] = tuple(str(c.key) for c in statement.selected_columns)
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled | None] = (
            weakref.WeakKeyDictionary()
        )

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The statement's rows with ``params``, each a sequence of converted values."""
        dialect = connection.dialect
        try:
            compiled = self._compiled[dialect]
        except KeyError:
            compiled = self._compiled[dialect] = self._compile(dialect)
        if compiled is None or _watched(connection):
            return list(connection.execute(self.statement, params))
        values = compiled.construct(params)
        for name, bind in compiled.binds:
            values[name] = bind(values[name])
        check_parameters(values)
        driver_params: Any = (
            values if compiled.positions is None else tuple(values[n] for n in compiled.positions)
        )
        driver = connection.connection.driver_connection
        dbapi = dialect.loaded_dbapi
        try:
            cursor = driver.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(compiled.sql, driver_params)
                found = cursor.fetchall()
            finally:
                cursor.close()
        except dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, driver, None)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql,
                driver_params,
                exc,
                dbapi.Error,
                dialect=dialect,
                connection_invalidated=lost,
            ) from exc
        if not compiled.results:
            return found  # type: ignore[no-any-return]
        converted: list[Sequence[Any]] = []
        for raw in found:
            row = list(raw)
            for i, result in compiled.results:
                row[i] = result(row[i])
            converted.append(row)
        return converted

    def _compile(self, dialect: Dialect) -> _Compiled | None:
        compiled: Any = self.statement.compile(dialect=dialect)
        if (
            compiled.literal_execute_params
            or compiled.post_compile_params
            or getattr(compiled, "escaped_bind_names", None)
            or dialect.paramstyle not in ("pyformat", "qmark")
        ):
            return None  # rewritten per execution by SQLAlchemy: not one fixed text
        binds = tuple(
            (name, process)
            for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        results = tuple(
            (i, process)
            for i, column in enumerate(self.statement.selected_columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )
        positions = tuple(compiled.positiontup) if dialect.paramstyle == "qmark" else None
        return _Compiled(compiled.string, compiled.construct_params, positions, binds, results)


def _watched(connection: Connection) -> bool:
    """Whether something observes the statements run on ``connection``."""
    # SQLAlchemy's own decision, made when the connection was opened (echo, or INFO
    # logging of ``sqlalchemy.engine``); logged as it would be, if it ever goes missing.
    if getattr(connection, "_echo", True):
        return True
    if not _HARMLESS_OPTIONS.issuperset(connection.get_execution_options()):
        return True
    dispatch = connection.dispatch
    for name in _WATCHED:
        for listener in getattr(dispatch, name):
            if listener is not check_statement_parameters:
                return True
    return bool(connection.dialect.dispatch.handle_error)
