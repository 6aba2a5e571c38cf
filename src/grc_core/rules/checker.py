"""The checker: from lark's parse tree to the typed, normalised tree of :mod:`.nodes`.

It runs when a rule is saved and refuses, with the line and column of the offending text:
unknown fields (with suggestions), unknown codes, values of the wrong type, operators that
do not apply to a type, and the arithmetic the language does not have.  What it accepts
is normalised so that every comparison reads *field op constant* (see :mod:`.nodes`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from lark import Token, Tree

from grc_core.rules.catalogue import Catalogue, FieldSpec
from grc_core.rules.errors import RuleSyntaxError, RuleTypeError
from grc_core.rules.grammar import decode_string
from grc_core.rules.nodes import (
    FLIPPED,
    And,
    AsMoment,
    Compare,
    Const,
    Constant,
    Contains,
    InList,
    Literal,
    Node,
    Not,
    Now,
    Or,
    Present,
    Shifted,
    Span,
    Today,
)
from grc_core.rules.values import (
    ARTICLE,
    MAX_DIGITS,
    MAX_DURATION,
    Type,
    format_duration,
    parse_duration,
    significant_digits,
)

#: Deepest nesting of ``not`` and parentheses accepted (``and``/``or`` chains are flat).
MAX_DEPTH = 50

#: Most values in one ``in [...]`` list.
MAX_ITEMS = 500

_ORDERING = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True)
class _Field:
    """A field operand, with the durations added to it (``exchange.end + 1h``)."""

    spec: FieldSpec
    span: Span
    shift: timedelta = timedelta(0)
    arithmetic: bool = False


@dataclass(frozen=True)
class _Duration:
    """A duration operand: only ever added to or subtracted from a date or date-time."""

    delta: timedelta
    span: Span


_Operand = _Field | Const | _Duration


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _name(operand: _Operand) -> str:
    if isinstance(operand, _Field):
        return operand.spec.name
    return operand.span.excerpt()


def _describe(operand: _Operand) -> str:
    if isinstance(operand, _Field):
        return f"{operand.spec.name} ({operand.spec.type.value})"
    if isinstance(operand, _Duration):
        return f"the duration {format_duration(operand.delta)}"
    return f"{operand.span.excerpt()} ({ARTICLE[operand.type]})"


class Checker:
    """Checks one condition against a catalogue.

    :param source: the condition text (for positions and excerpts).
    :param catalogue: the fields and codes that exist.
    :param allow_event: ``False`` for escalation rules, which run without an event and so
        may not use ``event.*``.
    """

    def __init__(self, source: str, catalogue: Catalogue, *, allow_event: bool = True) -> None:
        self.source = source
        self.catalogue = catalogue
        self.allow_event = allow_event

    # --- positions and errors -----------------------------------------------------------------

    def span(self, item: Tree[Token] | Token) -> Span:
        """Where ``item`` was written."""
        if isinstance(item, Token):
            return Span(item.line or 1, item.column or 1, str(item))
        meta = item.meta
        if meta.empty:
            return Span(1, 1, self.source)
        return Span(meta.line, meta.column, self.source[meta.start_pos : meta.end_pos])

    def error(self, at: Span | Tree[Token] | Token, message: str) -> RuleTypeError:
        """A :class:`RuleTypeError` at ``at``."""
        span = at if isinstance(at, Span) else self.span(at)
        return RuleTypeError(message, line=span.line, column=span.column, source=self.source)

    # --- conditions ---------------------------------------------------------------------------

    def check(self, tree: Tree[Token]) -> Node:
        """The checked condition of a parsed ``start`` tree."""
        if not tree.children:
            return Constant(Span(1, 1, ""), True)  # an empty condition: always
        child = tree.children[0]
        assert isinstance(child, Tree)
        return self.condition(child, 0)

    def condition(self, tree: Tree[Token], depth: int) -> Node:
        """Check a boolean expression."""
        if depth > MAX_DEPTH:
            span = self.span(tree)
            raise RuleSyntaxError(
                f"the condition is nested more than {MAX_DEPTH} levels deep",
                line=span.line,
                column=span.column,
                source=self.source,
            )
        kind = tree.data
        if kind in ("and_", "or_"):
            # a and b and c is parsed ((a and b) and c); flatten it without recursion so a
            # long chain is not mistaken for deep nesting.
            parts = [self.condition(p, depth + 1) for p in self._chain(tree, kind)]
            cls = And if kind == "and_" else Or
            return cls(self.span(tree), tuple(parts))
        if kind == "not_":
            return Not(self.span(tree), self.condition(self._tree(tree.children[0]), depth + 1))
        return self.atom(tree)

    @staticmethod
    def _tree(item: Tree[Token] | Token) -> Tree[Token]:
        assert isinstance(item, Tree)
        return item

    def _chain(self, tree: Tree[Token], kind: str) -> list[Tree[Token]]:
        parts: list[Tree[Token]] = []
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.data == kind:
                stack.extend(reversed([self._tree(c) for c in node.children]))
            else:
                parts.append(node)
        return parts

    def atom(self, tree: Tree[Token]) -> Node:
        """Check a comparison, ``in``, ``contains``, ``is empty`` or bare value."""
        span = self.span(tree)
        kind = tree.data
        if kind == "compare":
            left, op, right = tree.children
            return self.compare(
                span, self.operand(self._tree(left)), str(op), self.operand(self._tree(right))
            )
        subject = self.operand(self._tree(tree.children[0]))
        if kind in ("in_", "not_in"):
            items = self._tree(tree.children[1]).children
            field = self._plain_field(subject, "in" if kind == "in_" else "not in")
            return self.in_list(span, field, [self._tree(i) for i in items], kind == "not_in")
        if kind == "contains":
            field = self._plain_field(subject, "contains")
            return self.contains(span, field, self.operand(self._tree(tree.children[1])))
        if kind in ("is_empty", "is_not_empty"):
            word = "is empty" if kind == "is_empty" else "is not empty"
            field = self._plain_field(subject, word)
            return Present(span, field.spec, negated=kind == "is_empty")
        assert kind == "bare", kind
        return self.bare(span, subject)

    def _plain_field(self, operand: _Operand, word: str) -> _Field:
        if not isinstance(operand, _Field):
            raise self.error(
                operand.span,
                f"'{word}' needs a field on its left (such as exchange.subject), "
                f"not {_describe(operand)}",
            )
        if operand.arithmetic:
            raise self.error(
                operand.span,
                f"arithmetic on a field is only allowed in a comparison (= != < <= > >=), "
                f"not with '{word}'",
            )
        return operand

    def bare(self, span: Span, operand: _Operand) -> Node:
        """A value standing alone as a condition: a boolean field, ``true`` or ``false``."""
        if isinstance(operand, Literal) and operand.type is Type.BOOLEAN:
            return Constant(span, bool(operand.literal))
        if isinstance(operand, _Field) and operand.spec.type is Type.BOOLEAN:
            # (no arithmetic to fear: only dates and date-times take durations)
            true = Literal(Type.BOOLEAN, span, True)
            return Compare(span, operand.spec, "=", true)
        raise self.error(
            span,
            f"{_describe(operand)} is not a condition: compare it (=, !=, <, in, contains…) "
            "or test it with 'is empty'",
        )

    # --- comparisons --------------------------------------------------------------------------

    def compare(self, span: Span, left: _Operand, op: str, right: _Operand) -> Node:
        """``left op right``, normalised to ``field op constant``."""
        if isinstance(left, _Field) and isinstance(right, _Field):
            raise self.error(
                span,
                f"compare a field with a value, not with another field ({left.spec.name} and "
                f"{right.spec.name})",
            )
        if not isinstance(left, _Field):
            if not isinstance(right, _Field):
                raise self.error(
                    span,
                    "a comparison needs a field on one side (such as exchange.end); "
                    f"found {_describe(left)} and {_describe(right)}",
                )
            left, op, right = right, FLIPPED[op], left
        if isinstance(right, _Duration):
            raise self.error(right.span, _lonely_duration(right))
        field, constant = left, self._const(right)
        constant = self.convert(span, field.spec, constant, op)
        if field.shift:
            # field + d op c  <=>  field op c - d: the arithmetic moves to the constant, which
            # both evaluators compute in Python.
            constant = self._fold(Shifted(constant.type, constant.span, constant, -field.shift))
        return Compare(span, field.spec, op, constant)

    def in_list(self, span: Span, field: _Field, items: list[Tree[Token]], negated: bool) -> InList:
        """``field [not] in [items]``."""
        if len(items) > MAX_ITEMS:
            raise self.error(span, f"an 'in' list holds at most {MAX_ITEMS} values")
        values = []
        for item in items:
            operand = self.operand(item)
            if isinstance(operand, _Field):
                raise self.error(
                    operand.span, f"an 'in' list holds values, not fields ({operand.spec.name})"
                )
            if isinstance(operand, _Duration):
                raise self.error(operand.span, _lonely_duration(operand))
            values.append(self.convert(operand.span, field.spec, operand, "in"))
        return InList(span, field.spec, tuple(values), negated)

    def contains(self, span: Span, field: _Field, needle: _Operand) -> Contains:
        """``field contains 'text'``."""
        if field.spec.type is not Type.TEXT:
            hint = " (use = or in for codes)" if field.spec.type is Type.CODE else ""
            raise self.error(
                span,
                f"'contains' applies to text fields; {field.spec.name} is "
                f"{ARTICLE[field.spec.type]}{hint}",
            )
        if isinstance(needle, _Field | _Duration) or needle.type is not Type.TEXT:
            raise self.error(
                needle.span, f"'contains' needs a text to look for, not {_describe(needle)}"
            )
        return Contains(span, field.spec, needle)

    def convert(self, span: Span, spec: FieldSpec, constant: Const, op: str) -> Const:
        """Check that ``constant`` may be compared with ``spec`` by ``op``; adapt it.

        A date compared with a date-time field means midnight UTC of that date.
        """
        ftype, ctype = spec.type, constant.type
        mismatch = self.error(
            constant.span,
            f"cannot compare {spec.name} ({ftype.value}) with {constant.span.excerpt()} "
            f"({ARTICLE[ctype]})",
        )
        if ftype in (Type.TEXT, Type.CODE):
            if ctype is not Type.TEXT:
                raise mismatch
        elif ftype is Type.DATETIME:
            if ctype is Type.DATE:
                constant = self._fold(AsMoment(constant.span, constant))
            elif ctype is not Type.DATETIME:
                raise mismatch
        elif ftype is Type.DATE:
            if ctype is Type.DATETIME:
                raise self.error(
                    constant.span,
                    f"{spec.name} is a date: compare it with a date or today(), "
                    f"not with a date-time ({constant.span.excerpt()})",
                )
            if ctype is not Type.DATE:
                raise mismatch
        elif ftype is not ctype:
            raise mismatch
        if op in _ORDERING and ftype in (Type.CODE, Type.BOOLEAN):
            raise self.error(
                span,
                f"{spec.name} is {ARTICLE[ftype]}: it takes =, !=, in and not in, not '{op}'",
            )
        known = spec.choices
        if known is not None and isinstance(constant, Literal) and constant.literal not in known:
            accepted = ", ".join(sorted(known)) or "none defined"
            raise self.error(
                constant.span,
                f"{constant.literal!r} is not {_a(spec.what or 'code')} of {spec.name}; "
                f"accepted: {accepted}",
            )
        return constant

    # --- operands -----------------------------------------------------------------------------

    def _const(self, operand: _Operand) -> Const:
        assert not isinstance(operand, _Field | _Duration)
        return operand

    def operand(self, tree: Tree[Token]) -> _Operand:
        """A value: field, literal, ``now()``, ``today()``, duration, or arithmetic."""
        span = self.span(tree)
        kind = tree.data
        if kind == "arith":
            # now() - 1d - 2h is parsed ((now() - 1d) - 2h): walk down the left spine and fold
            # back up without recursion, so a long chain cannot exhaust the stack.
            steps: list[tuple[Tree[Token], Token, Tree[Token]]] = []
            node = tree
            while node.data == "arith":
                left, op, right = node.children
                assert isinstance(op, Token)
                steps.append((node, op, self._tree(right)))
                node = self._tree(left)
            value = self.operand(node)
            for step, op, right in reversed(steps):
                value = self.arithmetic(self.span(step), value, op, self.operand(right))
            return value
        if kind == "field":
            return _Field(self.field(tree.children[0]), span)
        if kind == "now":
            return Now(span)
        if kind == "today":
            return Today(span)
        if kind == "true":
            return Literal(Type.BOOLEAN, span, True)
        if kind == "false":
            return Literal(Type.BOOLEAN, span, False)
        if kind == "string":
            token = tree.children[0]
            assert isinstance(token, Token)
            # Stored texts are NFC (grc_core.services.text): so is every literal, or 'é' typed
            # as e + combining accent would never equal the stored 'é'.
            text = unicodedata.normalize("NFC", decode_string(token, self.source))
            return Literal(Type.TEXT, span, text)
        if kind in ("number", "negative"):
            return Literal(Type.NUMBER, span, self.number(span, str(tree.children[-1]), kind))
        if kind == "date":
            return Literal(Type.DATE, span, self.date(span))
        if kind == "datetime":
            return Literal(Type.DATETIME, span, self.datetime(span))
        assert kind == "duration", kind
        try:
            delta = sum((parse_duration(str(t)) for t in tree.children), timedelta(0))
        except OverflowError:  # beyond what a timedelta holds: far beyond the limit
            raise self.error(span, _too_long(span.text)) from None
        return _Duration(self._duration_limit(span, delta), span)

    def field(self, token: Tree[Token] | Token) -> FieldSpec:
        """The catalogue entry of a field token."""
        assert isinstance(token, Token)
        name = str(token)
        spec = self.catalogue.get(name)
        if spec is None:
            raise self.error(token, self._unknown(name))
        if spec.is_event and not self.allow_event:
            raise self.error(
                token,
                f"{name} is only known when an event triggers the rule; "
                "an escalation rule has no triggering event",
            )
        return spec

    def _unknown(self, name: str) -> str:
        prefix, _, code = name.partition(".")
        if prefix == "custom" and code:
            codes = [n.split(".", 1)[1] for n in self.catalogue.names("custom.")]
            accepted = ", ".join(codes) or "none defined"
            return f"unknown custom field {code!r}; accepted: {accepted}"
        suggestions = self.catalogue.suggest(name)
        hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
        if prefix in ("exchange", "company", "opportunity", "event"):
            accepted = ", ".join(n.split(".", 1)[1] for n in self.catalogue.names(prefix + "."))
            return f"unknown field {name!r}{hint} ({prefix} fields: {accepted})"
        return (
            f"unknown field {name!r}{hint} (fields start with exchange., company., "
            "opportunity., custom. or event.)"
        )

    def number(self, span: Span, text: str, kind: str) -> int | Decimal:
        """An integer or a decimal literal (exact, never a float)."""
        # Checked on the Decimal before any int(): a 5,000-digit literal must be refused,
        # not fail in Python's int() (its 4,300-digit limit) or overflow the database.
        exact = Decimal(text)
        if significant_digits(exact) > MAX_DIGITS or exact.adjusted() >= MAX_DIGITS:
            raise self.error(
                span,
                f"numbers have at most {MAX_DIGITS} significant digits and {MAX_DIGITS} digits "
                "before the decimal point",
            )
        value: int | Decimal = exact if "." in text else int(exact)
        return -value if kind == "negative" else value

    def date(self, span: Span) -> date:
        """A ``YYYY-MM-DD`` literal."""
        try:
            return date.fromisoformat(span.text)
        except ValueError:
            raise self.error(span, f"{span.text} is not a valid date") from None

    def datetime(self, span: Span) -> datetime:
        """A date-time literal; without an offset it is UTC."""
        try:
            value = datetime.fromisoformat(span.text)
        except ValueError:
            raise self.error(span, f"{span.text} is not a valid date-time") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise self.error(span, f"{span.text} is out of the calendar's range") from None

    def _duration_limit(self, span: Span, delta: timedelta) -> timedelta:
        if abs(delta) > MAX_DURATION:
            raise self.error(span, _too_long(format_duration(delta)))
        return delta

    def arithmetic(self, span: Span, left: _Operand, op: Token, right: _Operand) -> _Operand:
        """``left + right`` or ``left - right``: dates and date-times plus or minus durations."""
        sign = 1 if str(op) == "+" else -1
        at = self.span(op)
        if isinstance(left, _Duration) and isinstance(right, _Duration):
            return _Duration(self._duration_limit(span, left.delta + sign * right.delta), span)
        if isinstance(left, _Duration) and sign == 1:
            left, right = right, left  # 2d + now() is now() + 2d
        if not isinstance(right, _Duration) or isinstance(left, _Duration):
            verb = "add" if sign == 1 else "subtract"
            raise self.error(
                at,
                f"cannot {verb} {_describe(right)} {'to' if sign == 1 else 'from'} "
                f"{_describe(left)}: arithmetic only adds or subtracts durations (2d, 3h…) "
                "to or from dates and date-times",
            )
        delta = sign * right.delta
        kind = left.spec.type if isinstance(left, _Field) else left.type
        if kind not in (Type.DATE, Type.DATETIME):
            raise self.error(
                at,
                f"cannot {'add' if sign == 1 else 'subtract'} a duration "
                f"{'to' if sign == 1 else 'from'} {_describe(left)}: only dates and date-times "
                "take durations",
            )
        if kind is Type.DATE and delta % timedelta(days=1):
            raise self.error(
                right.span,
                f"{_name(left)} is a date: add or subtract whole days or weeks, "
                f"not {format_duration(right.delta)}",
            )
        if isinstance(left, _Field):
            shift = self._duration_limit(span, left.shift + delta)
            return _Field(left.spec, span, shift, arithmetic=True)
        base = left.base if isinstance(left, Shifted) else left
        total = (left.delta if isinstance(left, Shifted) else timedelta(0)) + delta
        return self._fold(Shifted(kind, span, base, self._duration_limit(span, total)))

    def _fold(self, constant: Const) -> Const:
        """Compute a constant that does not depend on ``now()`` once, here.

        Besides saving work, folding finds the dates pushed off the calendar
        (``0001-01-01 - 1d``) when the rule is saved rather than when it runs.
        """
        if constant.uses_now or isinstance(constant, Literal):
            return constant
        try:
            value: Any = constant.value(datetime.now(UTC))
        except OverflowError:
            raise self.error(
                constant.span, f"{constant.span.excerpt()} falls outside the calendar"
            ) from None
        return Literal(constant.type, constant.span, value)


def _lonely_duration(operand: _Duration) -> str:
    text = format_duration(operand.delta)
    return (
        f"a duration ({text}) is not a value to compare: add it to or subtract it from a "
        f"date or date-time, as in now() - {text}"
    )


def _too_long(duration: str) -> str:
    return f"durations are limited to {MAX_DURATION.days}d (about a century); got {duration}"
