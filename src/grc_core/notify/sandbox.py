"""The template sandbox: Jinja2 locked down, fed only plain values.

Public names are imported from :mod:`grc_core.notify.templates`, the entry point of
templates; this module holds the sandbox itself, :mod:`grc_core.notify.merge_fields` the
values given to it.

Templates are *text* stored in notification rules and written by administrators; they are
rendered for every recipient of every matching event.  So a template must neither reach
anything but the values given to it, nor take the worker down.  This module layers, on top
of Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:

- **plain values only** — :func:`plain_values` refuses anything but ``str``, ``int``,
  ``float``, ``Decimal``, ``bool``, ``None``, ``date``, ``datetime`` and lists and dicts of
  them, so ORM objects (and their session, engine, connection…) never reach a template;
  :func:`~grc_core.notify.merge_fields.merge_fields` builds those values from exchanges,
  companies, users and events;
- **no loader** — a template is the text it is given; ``include``, ``import``, ``extends``
  and ``autoescape`` blocks are refused, so no template can be chosen by name;
- **allow-listed attributes** — only a fixed list of methods of ``str``, ``dict``, ``list``
  and dates (``str.format`` and ``format_map`` are not among them), nothing whose name
  starts with ``_``; any other access fails at once with a :class:`TemplateError`;
- **allow-listed filters and globals** — ``safe``, ``pprint``, ``random``, ``lipsum``,
  ``cycler`` and ``joiner`` are gone; ``range`` is bounded;
- **a time budget** — every loop iteration, attribute access, call and intercepted
  operator checks a deadline (``max_seconds``, 0.5 s by default);
- **a size budget** — ``*``, ``+``, ``%``, ``**``, ``~``, filters and method calls refuse
  results longer than ``max_output`` (checked *before* computing when the size can be
  known, as for ``'a' * 10**9``), the total of everything built is capped, and the output
  is streamed and cut off past ``max_output`` characters;
- **a structure budget** — every list, tuple, dict and namespace a template builds (literals,
  filter and call results, namespace assignments) is weighed by its *expanded* size, the
  items and characters that ``str()``, ``==``, ``tojson`` or a sort would walk through,
  and refused past :func:`max_structure` (256,000 by default).  ``{% set l = [l, l] %}``
  doubles that size at each step while its memory hardly grows, and one ``==`` or
  ``str()`` of it is a single C call that no deadline check can interrupt: bounding what
  such a call can walk through is what keeps the time and memory budgets true;
- **bounded recursion** — calls (macros) nest at most :data:`MAX_CALL_DEPTH` deep.

Every refusal is a :class:`TemplateError` (a :class:`~grc_core.errors.ValidationError`)
whose message says what was refused and, when known, on which line.
"""

from __future__ import annotations

import ast
import enum
import functools
import itertools
import re
import time
import types
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from grc_core.errors import ValidationError

# --- limits ----------------------------------------------------------------------------------

#: Default cap on the rendered output, in characters.
DEFAULT_MAX_OUTPUT = 64_000
#: Default cap on the rendering time, in seconds.
DEFAULT_MAX_SECONDS = 0.5
#: The longest template text accepted.
MAX_TEMPLATE_LENGTH = 100_000
#: The most numbers ``range()`` may produce (Jinja's own sandbox allows 100,000).
MAX_RANGE = 10_000
#: How deep calls (macros calling macros) may nest.
MAX_CALL_DEPTH = 50
#: The largest integer an operator may produce, in bits (``2**4096`` has 1,234 digits).
MAX_INT_BITS = 4096
#: Everything a render builds (strings and lists, intermediate ones included) may total this
#: many times ``max_output``…
WORK_FACTOR = 16
#: …but at least this many characters.
MIN_WORK = 1_000_000
#: How deeply nested the values given to a template may be.
MAX_VALUE_DEPTH = 8
#: Size-like arguments of ``indent`` and ``tojson`` (spaces per level) are small numbers.
MAX_INDENT = 64
#: A structure a template builds may expand to this many times ``max_output``…
STRUCTURE_FACTOR = 4
#: …but at least this much…
MIN_STRUCTURE = 256_000
#: …and never more than this, whatever ``max_output`` (``str()`` of a structure writes up to
#: ~10 characters per unit of weight: this keeps one such call to tens of megabytes).
MAX_STRUCTURE = 1_000_000
#: The weight of a value that is neither text, a number nor a container (a date, a macro…).
_OPAQUE_WEIGHT = 8
#: Work charged for a container, on top of one unit per item (its header, in pointer-sized
#: units): many tiny lists cost memory too.
_CONTAINER_WORK = 8


def max_structure(max_output: int) -> int:
    """The largest expanded size of a structure a template may build, for ``max_output``."""
    return min(max(STRUCTURE_FACTOR * max_output, MIN_STRUCTURE), MAX_STRUCTURE)


class TemplateError(ValidationError):
    """A template is invalid, was refused by the sandbox, or exceeded a limit.

    :param reason: what went wrong, without the line.
    :param line: the template line, when known; the message then starts with it.
    """

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        message = reason if line is None else f"line {line}: {reason}"
        super().__init__(message, field="template")
        self.reason = reason
        self.line = line


# --- the budget of one render ----------------------------------------------------------------

#: Whatever a checked step returns (it is handed back unchanged).
_V = TypeVar("_V")


@dataclass
class _Budget:
    """The limits of the render in progress, checked by the sandbox hooks."""

    max_output: int
    max_seconds: float
    deadline: float
    work_left: int
    max_weight: int
    depth: int = 0
    #: The weight of every container already weighed, by id (the container is kept, so that
    #: its id is not reused).  Containers never change once built: the sandbox is immutable
    #: and only namespaces, which are never cached, take assignments.
    weights: dict[int, tuple[object, int]] = field(default_factory=dict)
    #: The first refusal: re-raised at the end even if template code swallowed it (a
    #: ``TemplateError`` is a ``ValueError``, and Jinja's filters catch some of those).
    failure: TemplateError | None = None

    def fail(self, reason: str) -> TemplateError:
        error = TemplateError(reason)
        if self.failure is None:
            self.failure = error
        return error

    def tick(self) -> None:
        if self.failure is not None:
            raise self.failure
        if time.monotonic() > self.deadline:
            raise self.fail(
                f"rendering took longer than {self.max_seconds:g} s (a loop or a recursion "
                "too long?)"
            )

    def check_size(self, size: int, what: str) -> None:
        if size > self.max_output:
            raise self.fail(
                f"{what} would be {size:,} characters or items long, over the limit of "
                f"{self.max_output:,}"
            )

    def produced(self, value: _V, what: str) -> _V:
        """Account for ``value``, a result just built; refuse it when too big."""
        if isinstance(value, str | list | tuple | dict):
            size = len(value)
            self.check_size(size, what)
            if not isinstance(value, str):
                self.weigh(value, what)
                size += _CONTAINER_WORK
            self.spend(size)
        elif isinstance(value, (Namespace, *_VIEWS)):
            self.weigh(value, what)
        elif isinstance(value, int) and type(value) is int:  # exactly int: not bool
            self.spend(value.bit_length() // 64)
        return value

    def spend(self, work: int) -> None:
        self.work_left -= work
        if self.work_left < 0:
            raise self.fail(
                "the template built too much text in all (over "
                f"{self.max_output * WORK_FACTOR:,} characters); simplify its loops"
            )

    def weigh(self, value: object, what: str) -> int:
        """The expanded size of ``value``, refused past ``max_weight``.

        Items count one each (shared ones as often as they appear, since ``str()`` and
        ``==`` visit them that often), strings their length; namespaces only at the top.
        """
        if isinstance(value, Namespace):
            attributes = object.__getattribute__(value, "_Namespace__attrs")
            total = 1 + sum(self.weigh_item(v, what) + len(k) for k, v in attributes.items())
            return self._check_weight(total, what)
        return self.weigh_item(value, what)

    def weigh_item(self, value: object, what: str) -> int:
        if isinstance(value, str):
            return len(value) + 1
        if isinstance(value, int):
            return value.bit_length() // 3 + 1
        if isinstance(value, Namespace):
            # A namespace changes after it is put somewhere, so the weight of what holds it
            # would go stale: it stays a top-level variable.
            raise self.fail(
                f"{what}: a namespace cannot be put in a list, a dict or another namespace"
            )
        if not isinstance(value, _CONTAINERS):
            return _OPAQUE_WEIGHT
        known = self.weights.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        total = 1
        items = itertools.chain.from_iterable(value.items()) if isinstance(value, dict) else value
        for item in items:
            total += self.weigh_item(item, what)
            self._check_weight(total, what)
        if not isinstance(value, _VIEWS):  # a view is a new object at every call
            self.weights[id(value)] = (value, total)
        return total

    def _check_weight(self, total: int, what: str) -> int:
        if total > self.max_weight:
            raise self.fail(
                f"{what} would hold more than {self.max_weight:,} items and characters in all "
                "(nested lists count every time they appear); build smaller structures"
            )
        return total


_VIEWS: tuple[type[Iterable[Any]], ...] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS: tuple[type[Iterable[Any]], ...] = (list, tuple, dict, *_VIEWS)

_budget: ContextVar[_Budget | None] = ContextVar("grc_template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:  # only render() runs templates; anything else is a bug here
        raise RuntimeError("a GRC template ran outside render()")
    return budget


# --- what templates may touch ----------------------------------------------------------------


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STR_METHODS = _names(
    "capitalize casefold center count endswith find index isalnum isalpha isdecimal "
    "isdigit islower isnumeric isspace istitle isupper join ljust lower lstrip partition "
    "removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split "
    "splitlines startswith strip swapcase title upper zfill"
)
_DATE_ATTRIBUTES = frozenset(
    ["year", "month", "day", "weekday", "isoweekday", "isoformat", "strftime", "isocalendar"]
)
#: The attributes a template may read, by type (looked up along the type's MRO).
_SAFE_ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    datetime: _DATE_ATTRIBUTES | {"hour", "minute", "second", "date", "timestamp"},
    date: _DATE_ATTRIBUTES,
    LoopContext: _names(
        "index index0 revindex revindex0 first last length depth depth0 previtem nextitem "
        "cycle changed"
    ),
}

#: Jinja's built-in filters a template may use.  Left out: ``safe`` (values are escaped in
#: HTML, always), ``pprint`` (reprs), ``random`` (a message must not depend on luck).
_ALLOWED_FILTERS = _names(
    "abs attr batch capitalize center count d default dictsort e escape filesizeformat "
    "first float forceescape format groupby indent int items join last length list lower "
    "map max min reject rejectattr replace reverse round select selectattr slice sort "
    "string striptags sum title tojson trim truncate unique upper urlencode urlize "
    "wordcount wordwrap xmlattr"
)
#: Global names a template may use besides the mail-merge fields.
GLOBAL_NAMES = frozenset({"range", "namespace", "dict"})

#: A printf-style conversion: ``%(name)-10.3f``.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _check_printf(fmt: str, args: object, budget: _Budget, what: str) -> None:
    """Refuse ``*`` widths, and a result that would be over the output limit: widths
    (``'%999999999d'``) and what the arguments print, as often as they are printed
    (``'%(a)s' * 1000 % {'a': x}``)."""
    total = len(fmt)
    conversions = 0
    # finditer, not findall: tens of thousands of tuples at once set off slow garbage
    # collections in one C call; the deadline is checked as the matches are read.
    for number, match in enumerate(_PRINTF.finditer(fmt)):
        if number % 1024 == 1023:
            budget.tick()
        width, precision, conversion = match.groups()
        if width == "*" or precision == "*":
            raise budget.fail(f"{what}: '*' widths are not supported in templates")
        total += int(width or 0) + int(precision or 0)
        conversions += conversion != "%"
    if isinstance(args, tuple):
        total += sum(_printed(budget, item, what) for item in args)
    elif isinstance(args, Mapping):
        largest = max((_printed(budget, item, what) for item in args.values()), default=0)
        total += conversions * largest
    else:
        total += conversions * _printed(budget, args, what)
    budget.check_size(total, what)


def _printed(budget: _Budget, value: object, what: str) -> int:
    """About what ``%s`` writes for ``value``: a text's length, a structure's expanded size
    (numbers are short next to the widths already counted)."""
    if isinstance(value, str):
        return len(value)
    return budget.weigh(value, what) if isinstance(value, _CONTAINERS) else 0


def _nesting(value: object, seen: dict[int, int] | None = None) -> int:
    """How deeply lists, tuples and dicts nest in ``value`` (shared parts counted once)."""
    if not isinstance(value, list | tuple | dict):
        return 0
    seen = {} if seen is None else seen
    if id(value) not in seen:
        items = value.values() if isinstance(value, dict) else value
        seen[id(value)] = 1 + max((_nesting(item, seen) for item in items), default=0)
    return seen[id(value)]


def _text_length(value: object) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _check_replace(subject: str, old: object, new: object, count: object, what: str) -> None:
    budget = _current()
    old_s, new_s = str(old), str(new)
    hits = subject.count(old_s) if old_s else len(subject) + 1
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        hits = min(hits, count)
    budget.check_size(len(subject) + hits * (len(new_s) - len(old_s)), what)


def _collect_join(items: object, separator: object, what: str) -> list[Any]:
    """Materialise what ``join`` is given, refusing a result over the limit before joining."""
    budget = _current()
    collected: list[Any] = []
    total, sep = 0, _text_length(separator)
    for item in items:  # type: ignore[attr-defined]
        budget.tick()
        total += _text_length(item) + (sep if collected else 0)
        budget.check_size(total, what)
        collected.append(item)
    return collected


def _check_int_argument(value: object, limit: int, what: str) -> None:
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if number and not -limit <= value <= limit:  # type: ignore[operator]
        raise _current().fail(f"{what}: the argument {value} is over the limit of {limit:,}")


def _before_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call to a ``str`` method whose result may be huge; may rewrite ``args``."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return args
    budget = _current()
    name = method.__name__
    what = f"str.{name}()"
    if name in ("center", "ljust", "rjust", "zfill"):
        for value in [*args, *kwargs.values()]:
            _check_int_argument(value, budget.max_output, what)
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1, what)
    elif name == "join" and args:
        args = (_collect_join(args[0], owner, what), *args[1:])
    return args


# --- filters ---------------------------------------------------------------------------------


def _filter_prechecks() -> dict[str, Callable[..., None]]:
    """Per filter, a check of its arguments that refuses a huge result before it is built."""

    def size_args(name: str, limit: Callable[[], int]) -> Callable[..., None]:
        def check(value: Any, *args: Any, **kwargs: Any) -> None:
            for argument in [*args, *kwargs.values()]:
                _check_int_argument(argument, limit(), f"the {name} filter")

        return check

    def output() -> int:
        return _current().max_output

    def indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
        width = kwargs.get("width", width)
        if isinstance(width, str):
            lines = str(value).count("\n") + 1
            _current().check_size(len(str(value)) + lines * len(width), "the indent filter")
        else:
            _check_int_argument(width, MAX_INDENT, "the indent filter")

    def wordwrap(value: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
        width = kwargs.get("width", width)
        _check_int_argument(width, output(), "the wordwrap filter")
        wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
        breaks = len(str(value)) // max(int(width), 1) + 1
        _current().check_size(
            len(str(value)) + breaks * len(str(wrapstring)), "the wordwrap filter"
        )

    def replace(value: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
        _check_replace(str(value), old, new, count, "the replace filter")

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        _check_printf(str(value), kwargs or args, _current(), "the format filter")

    def tojson(value: Any, indent: Any = None) -> None:
        _check_int_argument(indent, MAX_INDENT, "the tojson filter")
        if isinstance(indent, int) and indent > 0:
            # Every item goes on its own line, indented by its depth: a deep structure
            # prints far more than its size.
            budget = _current()
            weight = budget.weigh(value, "the tojson filter")
            budget.check_size(weight * (1 + indent * _nesting(value)), "the tojson filter")

    def batch(value: Any, linecount: Any = 1, fill_with: Any = None) -> None:
        _check_int_argument(linecount, output(), "the batch filter")
        if fill_with is not None and isinstance(linecount, int):
            # Each batch is padded with up to linecount - 1 copies of fill_with.
            budget = _current()
            padding = budget.weigh(fill_with, "the batch filter") * max(linecount, 1)
            budget.check_size(padding, "the batch filter's padding")

    def sum_(value: Any, attribute: Any = None, start: Any = 0) -> None:
        if not (isinstance(start, int | float | Decimal) and not isinstance(start, bool)):
            # sum() adds lists by copying: quadratic time in one C call.
            raise _current().fail(
                f"the sum filter adds numbers; start={type(start).__name__} is not accepted "
                "(join lists with + or the join filter)"
            )

    def urlize(value: Any, *args: Any, **kwargs: Any) -> None:
        # Each link gets the target and rel attributes: long ones, many times over.
        text = str(value)
        extra = sum(len(str(a)) for a in [*args, *kwargs.values()] if isinstance(a, str))
        links = sum(1 for word in text.split() if any(c in word for c in ".:@"))
        escaped = sum(text.count(c) for c in "&<>\"'") * 5
        _current().check_size(2 * (len(text) + escaped) + links * (extra + 64), "the urlize filter")

    return {
        "center": size_args("center", output),
        "truncate": size_args("truncate", output),
        "batch": batch,
        "sum": sum_,
        "urlize": urlize,
        "slice": size_args("slice", output),
        "indent": indent,
        "wordwrap": wordwrap,
        "replace": replace,
        "format": format_,
        "tojson": tojson,
    }


_PRECHECKS = _filter_prechecks()


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the time and size budget checked around it."""
    # Filters marked pass_context/pass_environment/pass_eval_context (which set this
    # attribute) get that object first, then the value.
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    precheck = _PRECHECKS.get(name)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        if precheck is not None:
            precheck(*args[skip:], **kwargs)
        if name == "join" and len(args) > skip:
            separator = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            collected = _collect_join(args[skip], separator, "the join filter")
            args = (*args[:skip], collected, *args[skip + 1 :])
        return budget.produced(function(*args, **kwargs), f"the {name} filter")

    return guarded


def _ticking(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the deadline checked first."""

    @functools.wraps(function)
    def ticking(*args: Any, **kwargs: Any) -> Any:
        _current().tick()
        return function(*args, **kwargs)

    return ticking


# --- the environment -------------------------------------------------------------------------


class _TickingRange:
    """A bounded ``range`` whose iteration checks the deadline at every number."""

    def __init__(self, numbers: range) -> None:
        self._numbers = numbers

    def __iter__(self) -> Iterator[int]:
        budget = _current()
        for number in self._numbers:
            budget.tick()
            yield number

    def __len__(self) -> int:
        return len(self._numbers)

    def __contains__(self, item: object) -> bool:
        return item in self._numbers

    def __repr__(self) -> str:
        return repr(self._numbers)


def _bounded_range(*args: int) -> _TickingRange:
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:  # len() of range(10**20) does not even fit a C integer
        raise _current().fail(f"range() would produce more than {MAX_RANGE:,} numbers") from None
    if size > MAX_RANGE:
        raise _current().fail(f"range() would produce {size:,} numbers; the limit is {MAX_RANGE:,}")
    return _TickingRange(numbers)


class _Instrument(ast.NodeTransformer):
    """Rewrites the Python code Jinja generates from a template.

    Every loop body starts with ``environment.grc_tick()``, so that even a loop over a plain
    list (which calls no sandbox hook) respects the deadline; every ``str_join`` and
    ``markup_join`` (the ``~`` operator) goes through ``environment.grc_joined`` and its size
    check.
    """

    _JOINS = frozenset({"str_join", "markup_join"})

    @staticmethod
    def _environment(attribute: str) -> ast.Attribute:
        return ast.Attribute(ast.Name("environment", ast.Load()), attribute, ast.Load())

    def _tick_first(self, node: ast.For | ast.AsyncFor | ast.While) -> ast.AST:
        self.generic_visit(node)
        tick = ast.Expr(ast.Call(self._environment("grc_tick"), [], []))
        node.body.insert(0, ast.copy_location(tick, node))
        return node

    visit_For = visit_AsyncFor = visit_While = _tick_first

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in self._JOINS:
            wrapped = ast.Call(self._environment("grc_joined"), [node], [])
            return ast.copy_location(wrapped, node)
        return node


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with every list, tuple and dict literal of a template passed
    through ``environment.grc_built``: ``[l, l]`` is where a structure doubles."""

    def _built(self, visit: Callable[[Any, Frame], None], node: nodes.Node, frame: Frame) -> None:
        self.write("environment.grc_built(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._built(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._built(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":  # not an assignment target: {% for a, b in … %}
            self._built(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


class _Namespace(Namespace):
    """What ``namespace()`` makes in a template: every assignment to it is weighed."""

    def __setitem__(self, name: str, value: Any) -> None:
        budget = _current()
        budget.tick()
        what = f"the namespace attribute {name!r}"
        budget.weigh_item(value, what)  # refuses a namespace
        super().__setitem__(name, value)
        budget.weigh(self, what)


class _SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox every GRC template runs in (one for text, one for HTML)."""

    # Intercepted operators go through call_binop (and are never constant-folded at
    # compile time, so '{{ "a" * 10**9 }}' is refused when rendered, not when compiled).
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    code_generator_class = _CodeGenerator

    def __init__(self, *, html: bool) -> None:
        super().__init__(autoescape=html, loader=None, extensions=(), cache_size=0)
        builtin_filters = self.filters
        self.filters = {
            name: _guard_filter(name, function)
            for name, function in builtin_filters.items()
            if name in _ALLOWED_FILTERS
        }
        # Tests compare (sameas, in, ==…) inside filters such as select: a tick each.
        # Jinja's table of tests is inferred as dict[str, function], which mypy does not
        # take for callables.
        self.tests = {
            name: _ticking(cast(Callable[..., Any], function))
            for name, function in self.tests.items()
        }
        self.globals = {"range": _bounded_range, "namespace": Namespace, "dict": dict}

    # --- compilation: instrument the generated code ---------------------------------------

    def _compile(self, source: str, filename: str) -> types.CodeType:
        # Jinja's internal hook for "a different compile method" (its docstring invites
        # overriding it): the generated module is instrumented before it is compiled.
        tree = _Instrument().visit(ast.parse(source, filename))
        return compile(ast.fix_missing_locations(tree), filename, "exec")

    def grc_tick(self) -> None:
        """Called at every loop iteration of template code."""
        _current().tick()

    def grc_built(self, value: Any) -> Any:
        """Checks a list, tuple or dict literal of the template."""
        budget = _current()
        budget.tick()
        return budget.produced(value, f"a {type(value).__name__}")

    def grc_joined(self, value: str) -> str:
        """Checks the result of ``~``."""
        return _current().produced(value, "the ~ operator")

    def concat(self, parts: Any) -> str:
        """Joins a macro's or a block's output (Jinja's ``environment.concat``)."""
        return _current().produced("".join(parts), "the output of a macro or block")

    # --- attributes -----------------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Only allow-listed attributes, and never one starting with ``_``."""
        if attr.startswith("_") or not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, Namespace):  # a namespace's attributes are the template's values
            return True
        for kind in type(obj).__mro__:
            if kind in _SAFE_ATTRIBUTES:
                return attr in _SAFE_ATTRIBUTES[kind]
        return False

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        """Refuse at once (Jinja would return an undefined that fails only when used)."""
        kind = "Namespace" if isinstance(obj, Namespace) else type(obj).__name__
        raise _current().fail(
            f"access to {attribute!r} of a {kind} value is not allowed in templates"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse ``str.format`` and ``str.format_map`` outright (Jinja would sandbox them):
        a template has ``~`` and the ``format`` filter for that."""
        if (
            isinstance(value, types.MethodType | types.BuiltinMethodType)
            and value.__name__ in ("format", "format_map")
            and isinstance(getattr(value, "__self__", None), str)
        ):
            raise _current().fail(
                f"str.{value.__name__}() is not allowed in templates; use ~ or the format filter"
            )
        return None

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute``: a dict's key before its methods (a field named ``items``
        is the field), then Jinja's sandboxed lookup."""
        _current().tick()
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        if isinstance(obj, jinja2.Undefined):
            # "'cycler' is undefined" says more than "'__init__' of an Undefined value".
            obj._fail_with_undefined_error()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """``obj[argument]``, with the deadline checked."""
        _current().tick()
        if isinstance(obj, jinja2.Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    # --- calls and operators --------------------------------------------------------------

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call from template code: deadline, argument checks, nesting depth, size."""
        budget = _current()
        budget.tick()
        args = _before_method(obj, args, kwargs)
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if obj is Namespace:
            obj, name = _Namespace, "namespace"
        if budget.depth >= MAX_CALL_DEPTH:
            raise budget.fail(f"calls nested more than {MAX_CALL_DEPTH} deep (a recursive macro?)")
        budget.depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        return budget.produced(result, f"{name}()")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``+`` and ``%``, with their result's size checked first."""
        budget = _current()
        budget.tick()
        what = f"the {operator} operator"
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    budget.check_size(len(seq) * max(times, 0), what)
            if _is_int(left) and _is_int(right):
                _check_bits(left.bit_length() + right.bit_length(), what)
        elif operator == "**":
            if _is_int(left) and _is_int(right) and right > 0:
                _check_bits(max(left.bit_length() - 1, 1) * right, what)
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                budget.check_size(len(left) + len(right), what)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right, budget, what)
        try:
            result = self.binop_table[operator](left, right)
        except OverflowError as exc:
            raise budget.fail(f"{what}: {exc}") from None
        return budget.produced(result, what)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise _current().fail(f"{what} would build a number of about {bits:,} bits; too large")


@functools.cache
def _environment(html: bool) -> _SandboxEnvironment:
    return _SandboxEnvironment(html=html)


# --- values ----------------------------------------------------------------------------------

_SCALARS = (str, int, float, Decimal, bool, type(None), date, datetime)


def plain_values(values: Mapping[str, object]) -> dict[str, object]:
    """A copy of ``values`` made only of plain values, or a :class:`TemplateError` naming
    the first value that is not one.

    Allowed: ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``None``, ``date``,
    ``datetime``, and lists, tuples (copied as lists) and dicts with string keys of these,
    nested at most :data:`MAX_VALUE_DEPTH` deep.  Enum members become their value; ``str``
    subclasses (such as ``Markup``) become plain strings, so they are escaped like any other.
    """
    if not isinstance(values, Mapping):
        raise TemplateError(f"template values must be a mapping, not {type(values).__name__}")
    return _plain_mapping(values, "values", 0)


def _plain_mapping(values: Mapping[Any, object], path: str, depth: int) -> dict[str, object]:
    copy: dict[str, object] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TemplateError(f"{path} has the key {key!r}; template keys must be strings")
        copy[str(key)] = _plain(value, f"{path}[{key!r}]", depth + 1)
    return copy


def _plain(value: object, path: str, depth: int) -> object:
    if type(value) in _SCALARS:
        return value
    if depth > MAX_VALUE_DEPTH:
        raise TemplateError(f"{path} is nested more than {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, enum.Enum):
        return _plain(value.value, path, depth)
    if isinstance(value, str):  # Markup and other subclasses: a plain copy
        return str.__str__(value)
    if isinstance(value, int):  # an int subclass (the enums were handled above)
        return int(value)
    if isinstance(value, Mapping):
        return _plain_mapping(value, path, depth)
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise TemplateError(
        f"{path} is a {type(value).__name__}; only plain values (str, int, float, Decimal, "
        "bool, None, date, datetime, and lists and dicts of them) may reach a template"
    )


# --- rendering -------------------------------------------------------------------------------


def _structure_errors(tree: nodes.Template) -> None:
    """Refuse what a self-contained, no-loader template has no use for."""
    refused: tuple[tuple[type[nodes.Node], str], ...] = (
        (nodes.Extends, "'extends' is not available: a template is self-contained"),
        (nodes.Include, "'include' is not available: a template is self-contained"),
        (nodes.Import, "'import' is not available: a template is self-contained"),
        (nodes.FromImport, "'from … import' is not available: a template is self-contained"),
        (nodes.EvalContextModifier, "'autoescape' blocks are not allowed: escaping is fixed"),
        (nodes.ScopedEvalContextModifier, "'autoescape' blocks are not allowed: escaping is fixed"),
    )
    for node in tree.find_all(tuple(kind for kind, _ in refused)):
        for kind, reason in refused:
            if isinstance(node, kind):
                raise TemplateError(reason, line=node.lineno)


@functools.lru_cache(maxsize=512)
def _compiled(text: str, html: bool) -> jinja2.Template:
    """Parse, check and compile ``text`` once; rule templates are rendered many times."""
    if not isinstance(text, str):
        raise TemplateError(f"a template is text, not {type(text).__name__}")
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(
            f"the template is {len(text):,} characters long; the limit is {MAX_TEMPLATE_LENGTH:,}"
        )
    env = _environment(html)
    try:
        tree = env.parse(text)
        _structure_errors(tree)
        return env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error: {exc.message}", line=exc.lineno) from None
    except RecursionError:
        raise TemplateError("the template is nested too deeply to be parsed") from None


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on (Jinja rewrites tracebacks to show it)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _as_template_error(exc: BaseException) -> TemplateError:
    line = _template_line(exc)
    if isinstance(exc, TemplateError):
        return TemplateError(exc.reason, line=exc.line or line)
    if isinstance(exc, SecurityError):
        reason = f"refused by the sandbox: {exc}"
    elif isinstance(exc, jinja2.UndefinedError):
        reason = f"undefined value: {exc}"
    elif isinstance(exc, RecursionError):
        reason = "nested too deeply (a recursive macro, or lists nested in lists?)"
    elif isinstance(exc, MemoryError):
        reason = "the template needed too much memory"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return TemplateError(reason, line=line)


def render(
    template: str,
    values: Mapping[str, object],
    *,
    html: bool = False,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> str:
    """Render ``template`` (its text, never a name) with ``values`` in the sandbox.

    :param template: the template text (e.g. a rule's ``body_template``).
    :param values: the mail-merge values, usually from :func:`merge_fields`; checked by
        :func:`plain_values`.
    :param html: escape values for HTML (autoescape); ``False`` renders plain text.
    :param max_output: the longest output, and the longest value any operation may build,
        in characters.
    :param max_seconds: the rendering time after which it is stopped.
    :raises TemplateError: a syntax error, a refused value, attribute, call or operation, a
        limit exceeded, or any error raised while rendering; the message gives the line
        when it is known.
    """
    if max_output < 1 or max_seconds <= 0:
        raise ValueError("max_output and max_seconds must be positive")
    context = plain_values(values)
    compiled = _compiled(template, html)
    budget = _Budget(
        max_output=max_output,
        max_seconds=max_seconds,
        deadline=time.monotonic() + max_seconds,
        work_left=max(max_output * WORK_FACTOR, MIN_WORK),
        max_weight=max_structure(max_output),
    )
    token = _budget.set(budget)
    parts: list[str] = []
    size = 0
    # Jinja annotates generate() as an Iterator; it is a generator, closed in any case below.
    stream = cast(Generator[str, None, None], compiled.generate(context))
    try:
        # Streamed, so that output past the limit is never built (or kept).
        for chunk in stream:
            size += len(chunk)
            if size > max_output:
                raise budget.fail(f"the output is longer than {max_output:,} characters")
            parts.append(chunk)
        if budget.failure is not None:  # refused, then swallowed by template code
            raise budget.failure
    except Exception as exc:  # RecursionError and MemoryError included
        raise _as_template_error(budget.failure or exc) from None
    finally:
        stream.close()
        _budget.reset(token)
    return "".join(parts)


def render_text(template: str, values: Mapping[str, object], **limits: Any) -> str:
    """:func:`render` as plain text (no escaping): subjects, text bodies, SMS."""
    return render(template, values, html=False, **limits)


def render_html(template: str, values: Mapping[str, object], **limits: Any) -> str:
    """:func:`render` as HTML: every value is escaped (``<`` becomes ``&lt;``)."""
    return render(template, values, html=True, **limits)
