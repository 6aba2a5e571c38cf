"""No template, whatever its data, renders past its time budget or allocates without bound.

Each render runs in a separate worker process (one per test module, replaced when a render
has to be killed) that measures it: wall-clock time, and the peak of memory allocated during
the render as traced by ``tracemalloc``.  A runaway render would therefore fail its test
instead of hanging the suite or eating the machine (the worker also has an address-space
limit).  Compiling the template (once per text and process, first when a rule is saved; its
cost depends on the text, not on the data) is measured apart.  The hypothesis search builds
templates from a grammar of the constructs that make structures big or single C calls long:
nested lists, namespaces, ``*``, ``**``, ``~``, ``%``, ``range``, comparisons of nested
structures, ``caller()``, and the filters that expand text.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grc_core.notify.templates import DEFAULT_MAX_SECONDS, TemplateError, render

#: The memory a render may allocate (the issue's bound).
MEMORY_CAP = 50 * 1024 * 1024
#: The margin on the time budget: a render may overshoot by one bounded step.
TIME_MARGIN = 5
#: The budget of the searched renders: shorter than the default, so that the search covers
#: more templates in its time (the margin stays a ratio of it, hence stricter).
FUZZ_SECONDS = 0.25
#: How long the worker may stay silent before the render is declared runaway and killed.
KILL_AFTER = 30.0

PAYLOAD_EQUAL = (
    "{% set ns = namespace(l=[1], m=[1], n=(31 if exchange.subject == 'boom' else 2)) %}"
    "{% for i in range(ns.n) %}{% set ns.l=[ns.l,ns.l] %}{% set ns.m=[ns.m,ns.m] %}"
    "{% endfor %}{{ ns.l == ns.m }}"
)
PAYLOAD_STR = (
    "{% set ns = namespace(l=[1], n=(25 if exchange.subject == 'boom' else 2)) %}"
    "{% for i in range(ns.n) %}{% set ns.l=[ns.l,ns.l] %}{% endfor %}{{ ns.l }}"
)

WORKER = textwrap.dedent(
    """
    import json, resource, sys, time, tracemalloc

    from grc_core.notify.templates import TemplateError, _compiled, render, sample_fields

    # A safety net only: the measure is tracemalloc's peak, far below this.
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    limit = pages * resource.getpagesize() + 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    tracemalloc.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        values = sample_fields()
        values["exchange"].update(request["exchange"])
        # Compiling is done once per template and process (and first when the rule is
        # saved): it depends on the text only, not on the data, and is measured apart.
        started = time.monotonic()
        try:
            _compiled(request["template"], False)
        except TemplateError:
            pass
        compiled = time.monotonic() - started
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        started = time.monotonic()
        try:
            output = render(request["template"], values, max_seconds=request["seconds"])
            outcome, detail = "rendered", len(output)
        except TemplateError as exc:
            outcome, detail = "refused", str(exc)
        except BaseException as exc:  # anything else is a failure of the sandbox
            outcome, detail = "crashed", repr(exc)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] - before
        reply = {
            "outcome": outcome, "detail": detail, "seconds": elapsed, "peak": peak,
            "compiled": compiled,
        }
        print(json.dumps(reply), flush=True)
    """
)

#: The data the renders see: a subject that triggers the payloads, details with characters
#: whose repr is long (escapes) and a character outside the BMP (4-byte strings).
EXCHANGE = {
    "subject": "boom",
    "details": ("Le client attend la proposition révisée.\x00\x1b[2J\u202e😀\n" * 40),
}


class Worker:
    """A process that renders templates on request and reports time and memory."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONHASHSEED": "0"},
        )
        self.process = process
        assert json.loads(self._read(process)) == {"ready": True}
        return process

    def _read(self, process: subprocess.Popen[str]) -> str:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], KILL_AFTER)
        if not ready:
            self.stop()
            raise AssertionError(f"the render was still running after {KILL_AFTER:g} s: killed")
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self.process = None
            raise AssertionError(f"the render worker died (exit status {code})")
        return line

    def render(self, template: str, *, seconds: float = DEFAULT_MAX_SECONDS) -> dict[str, Any]:
        process = self.process if self.process is not None else self._start()
        assert process.stdin is not None
        request = {"template": template, "seconds": seconds, "exchange": EXCHANGE}
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        reply: dict[str, Any] = json.loads(self._read(process))
        return reply

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    running = Worker()
    yield running
    running.stop()


def check_bounded(reply: dict[str, Any], template: str, seconds: float) -> None:
    assert reply["outcome"] in ("rendered", "refused"), (template, reply)
    assert reply["seconds"] <= TIME_MARGIN * seconds, (template, reply)
    assert reply["peak"] <= MEMORY_CAP, (template, reply)
    if reply["outcome"] == "refused":  # a refusal says why, never "out of memory"
        assert "too much memory" not in reply["detail"], (template, reply)


# --- the payloads --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (PAYLOAD_EQUAL, "the namespace attribute 'l' would hold more than 256,000 items"),
        (PAYLOAD_STR, "a list would hold more than 256,000 items"),
        # The same doubling without a namespace, through a recursive macro.
        (
            "{% macro f(x, n) %}{% if n %}{{ f([x, x], n - 1) }}{% else %}{{ x == x }}"
            "{% endif %}{% endmacro %}{{ f([1], 40) }}",
            "a list would hold more than 256,000 items",
        ),
        # Short lists of long strings: a few thousand references to a long text.
        (
            "{{ ([exchange.details * 10] * 60000)|string|length }}",
            "the * operator would hold more than 256,000 items",
        ),
        (
            "{% set ns = namespace(l=[]) %}{% for i in range(900) %}{% set ns.l = [ns.l] %}"
            "{% endfor %}{{ ns.l|tojson(indent=64)|length }}",
            "nested too deeply",
        ),
        (
            "{{ [1]|batch(60000, exchange.details)|first|length }}",
            "the batch filter's padding would be",
        ),
        (
            "{{ (range(1000)|batch(1)|list)|sum(start=[])|length }}",
            "the sum filter adds numbers; start=list is not accepted",
        ),
        (
            "{{ ('%(a)s' * 10000) % {'a': exchange.details} }}",
            "the % operator would be",
        ),
        (
            "{% set a = namespace(x=1) %}{% set b = namespace(l=[a, a]) %}",
            "a list: a namespace cannot be put in a list, a dict or another namespace",
        ),
    ],
)
def test_runaway_structures_are_refused_within_the_budget(
    worker: Worker, template: str, reason: str
) -> None:
    reply = worker.render(template)
    check_bounded(reply, template, DEFAULT_MAX_SECONDS)
    assert reply["outcome"] == "refused"
    assert reason in reply["detail"], reply["detail"]


def test_the_payloads_still_pass_the_save_time_check() -> None:
    # The trial render at save time sees a harmless subject: only the budget at delivery
    # stops them, and it does so with a typed error (in this process, now that it is safe).
    from grc_core.notify.templates import check_template, sample_fields

    for template in (PAYLOAD_EQUAL, PAYLOAD_STR):
        check_template(template)
        values = sample_fields()
        values["exchange"]["subject"] = "boom"  # type: ignore[index]
        with pytest.raises(TemplateError, match="would hold more than 256,000 items"):
            render(template, values)


def test_legitimate_structures_still_render(worker: Worker) -> None:
    template = (
        "{% set ns = namespace(rows=[], seen={}) %}"
        "{% for i in range(200) %}{% set ns.rows = ns.rows + [[i, exchange.subject]] %}"
        "{% endfor %}{{ ns.rows|length }} {{ ns.rows[-1] }} {{ (ns.rows == ns.rows) }}"
        "{{ dict(a=[1, 2], b=(3, 4))|tojson(indent=2)|length > 0 }}"
    )
    reply = worker.render(template)
    check_bounded(reply, template, DEFAULT_MAX_SECONDS)
    assert reply["outcome"] == "rendered", reply


# --- the search --------------------------------------------------------------------------------

NUMBERS = st.sampled_from(["0", "1", "2", "3", "10", "64", "1000", "4096", "30000", "10**6"])
LOOPS = st.sampled_from(["2", "10", "25", "40", "1000", "10000"])

LEAVES = st.sampled_from(
    [
        "1",
        "2**60",
        "'ab'",
        "'x' * 1000",
        "exchange.subject",
        "exchange.details",
        "exchange.assignees",
        "exchange",
        "company",
        "opportunities",
        "ns.a",
        "ns.b",
        "ns.a",
        "ns.b",
        "[1]",
        "range(100)",
        "range(10000)|list",
    ]
)

UNARY = [
    "[{a}, {a}]",
    "[{a}, {a}, {a}, {a}]",
    "({a}, {a})",
    "{{'k': {a}, 'v': {a}}}",
    "({a}) * {n}",
    "({a}) ** {n}",
    "[{a}] * {n}",
    "({a}) ~ ({a})",
    "({a})|string",
    "({a})|list",
    "({a})|tojson",
    "({a})|tojson(indent=8)",
    "({a})|sort",
    "({a})|sum",
    "({a})|unique|list",
    "({a})|join",
    "({a})|join(({a})|string)",
    "({a})|center({n})",
    "({a})|wordwrap({n})",
    "({a})|indent({n})",
    "({a})|indent(({a})|string)",
    "({a})|batch({n}, {a})|list",
    "({a})|slice({n}, {a})|list",
    "({a})|map('string')|list",
    "({a})|map('center', {n})|join",
    "({a})|reverse|list",
    "({a})|first",
    "({a})|max",
    "({a})|length",
    "({a})|urlize",
    "({a})|striptags",
    "({a})|escape",
    "({a})|title",
    "({a})|dictsort",
    "({a})|format({a})",
    "'%s%s' % ({a}, {a})",
    "('%s' * {n}) % ({a})",
    "namespace(a={a})",
    "dict(a={a}, b={a})",
    "({a}|string).split()",
    "({a}|string).replace('a', ({a})|string)",
    "({a}|string).center({n})",
    "({a}) == ({a})",
    "({a}) < ({a})",
    "({a}) in ({a})",
    "({a}) is sameas ({a})",
    "({a})|select('equalto', {a})|list",
    "({a})|items|list",
    "dict(a={a}, b={a}).items()|list",
    "dict(a={a}, b={a})|xmlattr",
    "dict(a={a}, b={a})|urlencode",
    "({a})|urlencode",
    "({a})|int",
    "({a})|round(2)",
    "({a})|truncate({n})",
    "({a})|wordcount",
    "({a})|trim",
    "({a})|min",
    "({a})|last",
    "({a})|filesizeformat",
    "({a})|groupby('id')|list",
    "({a})|map(attribute='name')|list",
]
BINARY = [
    "[{a}, {b}]",
    "({a}) + ({b})",
    "({a}) * ({b})",
    "({a}) ~ ({b})",
    "({a}) == ({b})",
    "({a}) != ({b})",
    "({a}) < ({b})",
    "({a}) in ({b})",
    "({a})|replace(({b})|string, ({a})|string)",
    "({a})|join(({b})|string)",
    "({a})|batch({n}, {b})|list",
    "'%s' % (({a}), ({b}))",
    "({a})|format({b}, {a})",
    "dict(a={a}, b={b})",
]


def expressions() -> st.SearchStrategy[str]:
    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.builds(
            lambda form, a, n: form.format(a=a, n=n), st.sampled_from(UNARY), children, NUMBERS
        )
        binary = st.builds(
            lambda form, a, b, n: form.format(a=a, b=b, n=n),
            st.sampled_from(BINARY),
            children,
            children,
            NUMBERS,
        )
        return unary | binary

    return st.recursive(LEAVES, extend, max_leaves=6)


CALLED_TWICE = (
    "{{% macro twice() %}}{{{{ caller() }}}}{{{{ caller() }}}}{{% endmacro %}}"
    "{{% call twice() %}}{{% call twice() %}}{{{{ {} }}}}{{% endcall %}}{{% endcall %}}"
)


def statements() -> st.SearchStrategy[str]:
    expression = expressions()
    simple = st.one_of(
        st.builds("{{% set ns.a = {} %}}".format, expression),
        st.builds("{{% set ns.b = {} %}}".format, expression),
        st.builds("{{{{ {} }}}}".format, expression),
        st.builds("{{{{ ({})|length }}}}".format, expression),
        # The doubling loops of the issue, over any expression.
        st.builds(
            "{{% for i in range({}) %}}{{% set ns.a = [ns.a, ns.a] %}}{{% endfor %}}".format,
            LOOPS,
        ),
        st.builds(
            "{{% for i in range({}) %}}{{% set ns.b = {} %}}{{% endfor %}}".format,
            LOOPS,
            expression,
        ),
        st.builds("{{% filter upper %}}{{{{ {} }}}}{{% endfilter %}}".format, expression),
        # caller() re-renders its block at every call: nested call blocks multiply.
        st.builds(CALLED_TWICE.format, expression),
        st.builds(
            "{{% macro f(x, n) %}}{{% if n %}}{{{{ f([x, x], n - 1) }}}}{{% else %}}"
            "{{{{ {} }}}}{{% endif %}}{{% endmacro %}}{{{{ f({}, {}) }}}}".format,
            st.sampled_from(["x == x", "x|string|length", "x|tojson|length", "x|sort"]),
            expression,
            LOOPS,
        ),
    )
    return st.recursive(
        simple,
        lambda inner: (
            st.builds(
                "{{% for i in range({}) %}}{}{{% endfor %}}".format,
                LOOPS,
                st.lists(inner, min_size=1, max_size=3).map("".join),
            )
            | st.builds("{{% if {} %}}{}{{% endif %}}".format, expressions(), inner)
        ),
        max_leaves=4,
    )


TEMPLATES = st.lists(statements(), min_size=1, max_size=4).map(
    lambda body: "{% set ns = namespace(a=[1], b='x') %}" + "".join(body)
)


@settings(
    max_examples=int(os.environ.get("GRC_TEMPLATE_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(template=TEMPLATES)
@example(template=PAYLOAD_EQUAL)
@example(template=PAYLOAD_STR)
@example(
    template="{% set ns = namespace(a=[1], b='x') %}{% for i in range(40) %}"
    "{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a|sort }}{{ ns.a|tojson }}"
)
def test_no_generated_template_exceeds_the_budget(worker: Worker, template: str) -> None:
    reply = worker.render(template, seconds=FUZZ_SECONDS)
    check_bounded(reply, template, FUZZ_SECONDS)
