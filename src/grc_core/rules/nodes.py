"""The checked syntax tree of a condition, and its three readings: Python, SQL, explanation.

Every comparison is normalised by the checker to *field op constant*, where the constant
may depend on ``now()`` but never on the record: ``exchange.end + 1h < now()`` becomes
``exchange.end < now() - 1h``.  Both evaluators compute the constant in Python with the same
code (:meth:`Const.value`), so SQL only ever compares a column with a bound parameter — no
date arithmetic in SQL, no database clock, identical results on SQLite and PostgreSQL.

Logic is two-valued.  An atom (comparison, ``in``, ``contains``, ``is empty``) holds when
the field has a non-empty value that passes it — for a to-many field, when *some* linked
value passes it; a missing value passes no comparison.  ``not`` is the exact complement.
The SQL side keeps that promise because every atom compiles to a never-NULL predicate
(see :mod:`grc_core.rules.sql`).
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, not_, or_, true

from grc_core.rules import sql
from grc_core.rules.catalogue import FieldSpec
from grc_core.rules.values import Type, ascii_lower, midnight, show

if TYPE_CHECKING:
    from grc_core.rules.context import Context

#: The comparison operators, the same functions for Python values and SQL columns.
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

#: ``a op b`` is ``b FLIPPED[op] a``: how a constant written on the left is moved right.
FLIPPED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

#: Longest source excerpt shown in an explanation line.
EXCERPT = 70


@dataclass(frozen=True)
class Span:
    """Where a node was written: 1-based line and column, and its source text."""

    line: int
    column: int
    text: str

    def excerpt(self) -> str:
        """The source text on one line, shortened for an explanation."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"

    def where(self) -> str:
        """``line L, column C``."""
        return f"line {self.line}, column {self.column}"


# --- constants ------------------------------------------------------------------------------


class Const(ABC):
    """A value known when the condition is evaluated: a literal, ``now()``, ``today()``, or
    one of those plus or minus durations."""

    type: Type
    span: Span

    @abstractmethod
    def value(self, now: datetime) -> Any:
        """The value at time ``now``."""

    @property
    def uses_now(self) -> bool:
        """True when the value depends on the evaluation time."""
        return False


@dataclass(frozen=True)
class Literal(Const):
    """A value written in the condition (or folded from literal arithmetic)."""

    type: Type
    span: Span
    literal: Any

    def value(self, now: datetime) -> Any:
        return self.literal


@dataclass(frozen=True)
class Now(Const):
    """``now()``: the evaluation time (given by the caller, never the database clock)."""

    span: Span
    type: Type = Type.DATETIME

    def value(self, now: datetime) -> Any:
        return now

    @property
    def uses_now(self) -> bool:
        return True


@dataclass(frozen=True)
class Today(Const):
    """``today()``: the UTC date of the evaluation time."""

    span: Span
    type: Type = Type.DATE

    def value(self, now: datetime) -> Any:
        return now.astimezone(UTC).date()

    @property
    def uses_now(self) -> bool:
        return True


@dataclass(frozen=True)
class Shifted(Const):
    """A date or date-time constant plus a duration (negative for ``-``)."""

    type: Type
    span: Span
    base: Const
    delta: timedelta

    def value(self, now: datetime) -> Any:
        return self.base.value(now) + self.delta

    @property
    def uses_now(self) -> bool:
        return self.base.uses_now


@dataclass(frozen=True)
class AsMoment(Const):
    """A date constant compared with a date-time field: midnight UTC of that date."""

    span: Span
    base: Const
    type: Type = Type.DATETIME

    def value(self, now: datetime) -> Any:
        return midnight(self.base.value(now))

    @property
    def uses_now(self) -> bool:
        return self.base.uses_now


# --- conditions -----------------------------------------------------------------------------


class Node(ABC):
    """A condition: something true or false of an exchange."""

    span: Span

    @abstractmethod
    def evaluate(self, context: Context) -> bool:
        """The value for the exchange described by ``context``."""

    @abstractmethod
    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        """A never-NULL predicate on ``exchanges``; ``event`` holds the ``event.*`` values."""

    @abstractmethod
    def reasons(self, context: Context, depth: int) -> list[str]:
        """Indented lines saying why the node has the value it has for ``context``."""

    def _line(self, depth: int, verdict: bool, detail: str = "") -> str:
        word = "true" if verdict else "false"
        tail = f": {detail}" if detail else ""
        return f"{'  ' * depth}- {self.span.excerpt()}  [{self.span.where()}] is {word}{tail}"


@dataclass(frozen=True)
class Constant(Node):
    """``true``, ``false``, or the empty condition (always true)."""

    span: Span
    truth: bool

    def evaluate(self, context: Context) -> bool:
        return self.truth

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        return true() if self.truth else false()

    def reasons(self, context: Context, depth: int) -> list[str]:
        if not self.span.text.strip():
            return [f"{'  ' * depth}- the condition is empty, which always holds"]
        return [self._line(depth, self.truth)]


@dataclass(frozen=True)
class And(Node):
    """Every part holds."""

    span: Span
    parts: tuple[Node, ...]

    def evaluate(self, context: Context) -> bool:
        return all(part.evaluate(context) for part in self.parts)

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        return and_(*(part.to_sql(now, event) for part in self.parts))

    def reasons(self, context: Context, depth: int) -> list[str]:
        verdict = self.evaluate(context)
        # False: only the parts that failed matter.  True: every part had to hold.
        shown = [p for p in self.parts if not p.evaluate(context)] if not verdict else self.parts
        detail = "every part holds" if verdict else f"{len(shown)} of {len(self.parts)} fail"
        lines = [self._line(depth, verdict, detail)]
        for part in shown:
            lines += part.reasons(context, depth + 1)
        return lines


@dataclass(frozen=True)
class Or(Node):
    """At least one part holds."""

    span: Span
    parts: tuple[Node, ...]

    def evaluate(self, context: Context) -> bool:
        return any(part.evaluate(context) for part in self.parts)

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        return or_(*(part.to_sql(now, event) for part in self.parts))

    def reasons(self, context: Context, depth: int) -> list[str]:
        verdict = self.evaluate(context)
        shown = [p for p in self.parts if p.evaluate(context)] if verdict else self.parts
        detail = "this part holds" if verdict else "no part holds"
        lines = [self._line(depth, verdict, detail)]
        for part in shown[:1] if verdict else shown:
            lines += part.reasons(context, depth + 1)
        return lines


@dataclass(frozen=True)
class Not(Node):
    """The part does not hold."""

    span: Span
    part: Node

    def evaluate(self, context: Context) -> bool:
        return not self.part.evaluate(context)

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        return not_(self.part.to_sql(now, event))

    def reasons(self, context: Context, depth: int) -> list[str]:
        verdict = self.evaluate(context)
        detail = "the negated part holds" if not verdict else "the negated part does not hold"
        return [self._line(depth, verdict, detail), *self.part.reasons(context, depth + 1)]


class Atom(Node):
    """A test of one field: true when some non-empty value of the field passes it."""

    field: FieldSpec

    def evaluate(self, context: Context) -> bool:
        return any(self.passes(value, context.now) for value in context.values_of(self.field))

    @abstractmethod
    def passes(self, value: Any, now: datetime) -> bool:
        """The Python test on one non-empty value."""

    @abstractmethod
    def sql_test(self, now: datetime) -> sql.Test:
        """The same test on the field's column."""

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        if self.field.reach is None:
            # event.* fields: constants of the triggering event, decided here in Python.
            return true() if self.evaluate(event) else false()
        return self.field.reach(self.sql_test(now))

    def reasons(self, context: Context, depth: int) -> list[str]:
        return [self._line(depth, self.evaluate(context), self.detail(context))]

    def detail(self, context: Context) -> str:
        """What the field held, for an explanation."""
        values = context.values_of(self.field)
        if self.field.multi:
            return f"{self.field.name} is {show(values) if values else 'empty (none linked)'}"
        return f"{self.field.name} is {show(values[0] if values else None)}"


@dataclass(frozen=True)
class Compare(Atom):
    """``field op constant`` (the checker moved any arithmetic on the field to the constant)."""

    span: Span
    field: FieldSpec
    op: str
    operand: Const

    def passes(self, value: Any, now: datetime) -> bool:
        return bool(OPERATORS[self.op](value, self.operand.value(now)))

    def sql_test(self, now: datetime) -> sql.Test:
        compare, bound = OPERATORS[self.op], sql.bind(self.operand.value(now))
        if self.field.type is Type.TEXT and self.op not in ("=", "!="):
            return lambda column: compare(sql.codepoint_order(column), bound)
        return lambda column: compare(column, bound)

    def detail(self, context: Context) -> str:
        text = super().detail(context)
        if self.operand.type in (Type.DATE, Type.DATETIME):
            # The constant may be computed (now() - 2d, a shifted field): show its value.
            return f"{text}; compared with {show(self.operand.value(context.now))}"
        return text


@dataclass(frozen=True)
class InList(Atom):
    """``field in [...]`` or ``field not in [...]``."""

    span: Span
    field: FieldSpec
    items: tuple[Const, ...]
    negated: bool = False

    def passes(self, value: Any, now: datetime) -> bool:
        found = any(value == item.value(now) for item in self.items)
        return found != self.negated

    def sql_test(self, now: datetime) -> sql.Test:
        bound = [sql.bind(item.value(now)) for item in self.items]
        if self.negated:
            return lambda column: column.not_in(bound)
        return lambda column: column.in_(bound)


@dataclass(frozen=True)
class Contains(Atom):
    """``field contains 'text'``, ignoring the case of ASCII letters."""

    span: Span
    field: FieldSpec
    needle: Const

    def passes(self, value: Any, now: datetime) -> bool:
        return ascii_lower(self.needle.value(now)) in ascii_lower(value)

    def sql_test(self, now: datetime) -> sql.Test:
        needle = ascii_lower(self.needle.value(now))
        return lambda column: sql.ascii_lower(column).contains(needle, autoescape=True)


@dataclass(frozen=True)
class Present(Atom):
    """``field is not empty`` (some value exists); ``negated``: ``field is empty``."""

    span: Span
    field: FieldSpec
    negated: bool = False

    def evaluate(self, context: Context) -> bool:
        return bool(context.values_of(self.field)) != self.negated

    def passes(self, value: Any, now: datetime) -> bool:  # pragma: no cover - see evaluate
        return True

    def sql_test(self, now: datetime) -> sql.Test:
        return lambda column: column.is_not(None)

    def to_sql(self, now: datetime, event: Context) -> ColumnElement[bool]:
        if self.field.reach is None:
            return true() if self.evaluate(event) else false()
        present = self.field.reach(self.sql_test(now))
        return not_(present) if self.negated else present
