"""Fixed statements run straight on the database driver's cursor.

Every history page, the acting user of every API request, and the rows a creation writes
are a few cached statements.  Run through SQLAlchemy, each execution still builds an
execution context, asks the driver for its column descriptions (psycopg makes an object
per column) and makes a ``Row`` per result row: on PostgreSQL about a third of the CPU a
history page costs beyond the driver's own work.  :class:`DriverRead` (a SELECT) and
:class:`DriverWrite` (an INSERT, with or without RETURNING, or a textual statement) compile
their statement once per dialect and run it on the driver's cursor, with the same
parameters, the same conversions both ways (the columns' bind and result processors) and
GRC's parameter check (:func:`grc_core.db.check_parameters`); a database error is raised as
SQLAlchemy raises it (a :class:`sqlalchemy.exc.DBAPIError` of the same class, an
``IntegrityError`` for a refused row, a lost connection invalidated).

They step aside, and the statement runs through SQLAlchemy as usual, whenever something
watches statements: ``echo`` or INFO logging of ``sqlalchemy.engine``, a listener of the
connection's execution events other than GRC's own check (a host's tracing, a test
counting statements), or an execution option they do not know.  A statement that cannot run
as compiled once (expanding ``IN`` lists, escaped parameter names, an INSERT whose missing
columns take Python-side defaults) always goes through SQLAlchemy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, TextClause
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from grc_core.db import READ_ONLY, check_parameters, check_statement_parameters

#: The connection events a watcher of statements listens to (and the dialect's
#: ``handle_error``, checked apart).
_WATCHED = ("before_execute", "after_execute", "before_cursor_execute", "after_cursor_execute")
#: Execution options that change nothing in how a fixed statement runs on the driver.
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


class _DriverStatement:
    """A statement compiled once per dialect and run on the driver's cursor."""

    def __init__(
        self,
        statement: Select[*tuple[Any, ...]] | Insert | TextClause,
        *,
        column_keys: Sequence[str] | None = None,
    ) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled | None] = (
            weakref.WeakKeyDictionary()
        )

    def _run(self, connection: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The statement's result rows (none for a statement without), converted."""
        dialect = connection.dialect
        try:
            compiled = self._compiled[dialect]
        except KeyError:
            compiled = self._compiled[dialect] = self._compile(dialect)
        if compiled is None or _watched(connection):
            through = connection.execute(self.statement, params)
            return list(through) if through.returns_rows else []
        values = compiled.construct(params)
        for name, bind in compiled.binds:
            values[name] = bind(values[name])
        check_parameters(values)
        driver_params: Any = (
            values if compiled.positions is None else tuple(values[n] for n in compiled.positions)
        )
        found = _on_cursor(connection, compiled.sql, driver_params)
        if not compiled.results:
            return found
        converted: list[Sequence[Any]] = []
        for raw in found:
            row = list(raw)
            for i, result in compiled.results:
                row[i] = result(row[i])
            converted.append(row)
        return converted

    def _result_columns(self) -> Sequence[Any]:
        return ()

    def _compile(self, dialect: Dialect) -> _Compiled | None:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        if (
            compiled.literal_execute_params
            or compiled.post_compile_params
            or getattr(compiled, "escaped_bind_names", None)
            or getattr(compiled, "insert_prefetch", None)
            or dialect.paramstyle not in ("pyformat", "qmark")
        ):
            return None  # rewritten or completed per execution by SQLAlchemy
        # By the names the parameters are built with (an anonymous bind's key in ``binds``
        # is its template, ``bind_names`` holds the name it is given).
        binds = tuple(
            (compiled.bind_names[bind], process)
            for bind in compiled.binds.values()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        results = tuple(
            (i, process)
            for i, column in enumerate(self._result_columns())
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )
        positions = tuple(compiled.positiontup) if dialect.paramstyle == "qmark" else None
        return _Compiled(compiled.string, compiled.construct_params, positions, binds, results)


class DriverRead(_DriverStatement):
    """A SELECT read on the driver's cursor (see the module's documentation)."""

    statement: Select[*tuple[Any, ...]]

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        super().__init__(statement)
        #: The result columns' names, in order.
        self.keys: tuple[str, ...] = tuple(str(c.key) for c in statement.selected_columns)

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The statement's rows with ``params``, each a sequence of converted values."""
        return self._run(connection, params)

    def _result_columns(self) -> Sequence[Any]:
        return list(self.statement.selected_columns)


class DriverWrite(_DriverStatement):
    """An INSERT (its RETURNING columns, if any, read back) or a textual statement, run on
    the driver's cursor with one set of parameters (see the module's documentation).

    :param column_keys: for an INSERT, the columns every call gives (the statement lists
        those); a column left out that has a Python-side default makes it go through
        SQLAlchemy, which computes the default.
    """

    def __init__(
        self, statement: Insert | TextClause, *, column_keys: Sequence[str] | None = None
    ) -> None:
        super().__init__(statement, column_keys=column_keys)

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Run the statement with ``params``; its RETURNING rows, converted (or none)."""
        return self._run(connection, params)

    def execute_each(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement for each set of ``rows``: one on the driver's cursor, several
        through SQLAlchemy's executemany (batched by the driver), none not at all."""
        if len(rows) == 1:
            self._run(connection, rows[0])
        elif rows:
            connection.execute(self.statement, list(rows))

    def _result_columns(self) -> Sequence[Any]:
        statement = self.statement
        return list(statement.exported_columns) if isinstance(statement, Insert) else []


def run_driver_sql(connection: Connection, sql: str, params: Sequence[Any]) -> None:
    """Run ``sql``, written in the driver's own parameter style, with ``params`` (one set,
    positional) on the driver's cursor: SQLAlchemy's ``exec_driver_sql`` without its
    execution context, and that very call whenever statements are watched."""
    if _watched(connection):
        connection.exec_driver_sql(sql, tuple(params))
        return
    check_parameters(params)
    _on_cursor(connection, sql, params)


def _on_cursor(connection: Connection, sql: str, params: Any) -> list[Any]:
    """Execute on a cursor of ``connection``'s driver connection: the rows, if any; a
    failure raised as SQLAlchemy raises it, a lost connection invalidated."""
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    dbapi = dialect.loaded_dbapi
    try:
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()
    except dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, driver, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            sql, params, exc, dbapi.Error, dialect=dialect, connection_invalidated=lost
        ) from exc


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
