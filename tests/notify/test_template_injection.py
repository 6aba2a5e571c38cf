"""Template injection: the known Jinja2 sandbox escapes are refused or rendered harmless.

Each payload has its exact outcome: the :class:`TemplateError` message it must raise, or the
harmless output it must give.  Payloads come from the public write-ups of Jinja2 SSTI and of
the sandbox CVEs (str.format and format_map, the attr filter, ``__class__``/``__mro__``
traversal, huge ranges and repetitions), plus resource exhaustion.
"""

from __future__ import annotations

import time

import pytest

from grc_core.notify.templates import (
    MAX_CALL_DEPTH,
    TemplateError,
    check_template,
    render,
    render_html,
    sample_fields,
)

VALUES = sample_fields()

REFUSED = [
    # --- attribute traversal to Python's internals -------------------------------------------
    (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "line 1: access to '__class__' of a str value is not allowed in templates",
    ),
    (
        "{{ exchange.subject.__class__.__base__.__subclasses__() }}",
        "line 1: access to '__class__' of a str value is not allowed in templates",
    ),
    (
        "{{ self.__init__.__globals__ }}",
        "line 1: access to '__init__' of a TemplateReference value is not allowed in templates",
    ),
    (
        "{{ self._TemplateReference__context }}",
        "line 1: access to '_TemplateReference__context' of a TemplateReference value is not "
        "allowed in templates",
    ),
    ("{{ cycler.__init__.__globals__.os }}", "line 1: undefined value: 'cycler' is undefined"),
    ("{{ joiner.__init__.__globals__ }}", "line 1: undefined value: 'joiner' is undefined"),
    ("{{ lipsum.__globals__ }}", "line 1: undefined value: 'lipsum' is undefined"),
    (
        "{{ range.__globals__['__builtins__'] }}",
        "line 1: access to '__globals__' of a function value is not allowed in templates",
    ),
    (
        "{{ namespace.__init__.__globals__ }}",
        "line 1: access to '__init__' of a type value is not allowed in templates",
    ),
    ("{{ config.items() }}", "line 1: undefined value: 'config' is undefined"),
    ("{{ request.application }}", "line 1: undefined value: 'request' is undefined"),
    (
        "{{ exchange.start_datetime.tzinfo }}",
        "line 1: access to 'tzinfo' of a datetime value is not allowed in templates",
    ),
    (
        "{{ exchange.subject.encode() }}",
        "line 1: access to 'encode' of a str value is not allowed in templates",
    ),
    (
        "{{ opportunity.amount.as_integer_ratio() }}",
        "line 1: access to 'as_integer_ratio' of a Decimal value is not allowed in templates",
    ),
    (
        "{{ exchange['__class__'] }}",
        "line 1: access to '__class__' of a dict value is not allowed in templates",
    ),
    # --- the attr filter -------------------------------------------------------------------
    ("{{ request|attr('application') }}", "line 1: undefined value: 'request' is undefined"),
    (
        "{{ ''|attr('__class__') }}",
        "line 1: access to '__class__' of a str value is not allowed in templates",
    ),
    (
        "{{ (exchange|attr('__class__')|attr('__mro__'))[1] }}",
        "line 1: access to '__class__' of a dict value is not allowed in templates",
    ),
    (
        "{{ ''|attr('format') }}",
        "line 1: str.format() is not allowed in templates; use ~ or the format filter",
    ),
    # --- str.format and format_map -------------------------------------------------------------
    (
        '{{ "{0.__class__}".format(exchange) }}',
        "line 1: str.format() is not allowed in templates; use ~ or the format filter",
    ),
    (
        "{{ exchange.subject.format_map(exchange) }}",
        "line 1: str.format_map() is not allowed in templates; use ~ or the format filter",
    ),
    (
        "{% set f = ''.format %}{{ f('{0.__class__}', 1) }}",
        "line 1: str.format() is not allowed in templates; use ~ or the format filter",
    ),
    (
        "{{ exchange.subject['format'] }}",
        "line 1: str.format() is not allowed in templates; use ~ or the format filter",
    ),
    # --- printf-style formatting ------------------------------------------------------------
    (
        '{{ "%999999999d"|format(1) }}',
        "line 1: the format filter would be 1,000,000,010 characters or items long, over the "
        "limit of 64,000",
    ),
    ('{{ "%*d"|format(10, 1) }}', "line 1: the format filter: '*' widths are not supported"),
    (
        '{{ "%.999999999f" % 1.5 }}',
        "line 1: the % operator would be 1,000,000,011 characters or items long, over the limit "
        "of 64,000",
    ),
    # --- huge ranges and repetitions --------------------------------------------------------
    (
        "{% for i in range(10**9) %}{% endfor %}",
        "line 1: range() would produce 1,000,000,000 numbers; the limit is 10,000",
    ),
    (
        "{% for i in range(10**30) %}{% endfor %}",
        "line 1: range() would produce more than 10,000 numbers",
    ),
    (
        "{{ 'a' * 10**9 }}",
        "line 1: the * operator would be 1,000,000,000 characters or items long, over the limit "
        "of 64,000",
    ),
    (
        "{{ (1,2)*10**8 }}",
        "line 1: the * operator would be 200,000,000 characters or items long, over the limit "
        "of 64,000",
    ),
    (
        "{{ [0] * 10**7 }}",
        "line 1: the * operator would be 10,000,000 characters or items long, over the limit of "
        "64,000",
    ),
    (
        "{{ 10 ** 100000 }}",
        "line 1: the ** operator would build a number of about 300,000 bits; too large",
    ),
    (
        "{{ 'x'|center(10**9) }}",
        "line 1: the center filter: the argument 1000000000 is over the limit of 64,000",
    ),
    (
        "{{ 'x'.ljust(10**9) }}",
        "line 1: str.ljust(): the argument 1000000000 is over the limit of 64,000",
    ),
    (
        "{{ [1]|batch(10**9, 'x')|list }}",
        "line 1: the batch filter: the argument 1000000000 is over the limit of 64,000",
    ),
    (
        "{{ ('x' * 60000)|replace('', 'y' * 60000) }}",
        "line 1: the replace filter would be 3,600,120,000 characters or items long, over the "
        "limit of 64,000",
    ),
    (
        "{{ ('x' * 60000).replace('x', 'yy') }}",
        "line 1: str.replace() would be 120,000 characters or items long, over the limit of 64,000",
    ),
    (
        "{{ range(10000)|map('center', 60000)|join }}",
        "line 1: the join filter would be 120,000 characters or items long, over the limit of "
        "64,000",
    ),
    (
        "{{ ('x' * 60000).join(['a', 'b', 'c']) }}",
        "line 1: str.join() would be 120,003 characters or items long, over the limit of 64,000",
    ),
    (
        "{{ 'abc'|tojson(indent=1000) }}",
        "line 1: the tojson filter: the argument 1000 is over the limit of 64",
    ),
    (
        "{{ range(10000)|map('center', 60000)|list|length }}",
        "line 1: the template built too much text in all (over 1,024,000 characters); simplify "
        "its loops",
    ),
    # --- namespace abuse ---------------------------------------------------------------------
    (
        "{% set x = namespace() %}{{ x.__class__ }}",
        "line 1: access to '__class__' of a Namespace value is not allowed in templates",
    ),
    (
        "{% set x = namespace() %}{{ x._Namespace__attrs }}",
        "line 1: access to '_Namespace__attrs' of a Namespace value is not allowed in templates",
    ),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "line 1: the ~ operator would be 65,536 characters or items long, over the limit of 64,000",
    ),
    (
        "{% set ns = namespace(n=2) %}{% for i in range(20) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "line 1: the * operator would build a number of about 4,098 bits; too large",
    ),
    # --- recursion ---------------------------------------------------------------------------
    (
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        f"line 1: calls nested more than {MAX_CALL_DEPTH} deep (a recursive macro?)",
    ),
    (
        "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}"
        "{{ a(1) }}",
        f"line 1: calls nested more than {MAX_CALL_DEPTH} deep (a recursive macro?)",
    ),
    (
        "{% macro m() %}{{ 'x' * 40000 }}{{ 'x' * 40000 }}{% endmacro %}{% set y = m() %}",
        "line 1: the output of a macro or block would be 80,000 characters or items long, "
        "over the limit of 64,000",
    ),
    (
        "{% set y %}{% for i in range(20) %}{{ 'x' * 4000 }}{% endfor %}{% endset %}",
        "line 1: the output of a macro or block would be 80,000 characters or items long, "
        "over the limit of 64,000",
    ),
    # --- the output cap ---------------------------------------------------------------------
    (
        "{% for i in range(100) %}{{ 'x' * 1000 }}{% endfor %}",
        "the output is longer than 64,000 characters",
    ),
    # --- no loader, no escaping switch -------------------------------------------------------
    (
        "{% include 'mail.txt' %}",
        "line 1: 'include' is not available: a template is self-contained",
    ),
    ("{% extends 'base' %}", "line 1: 'extends' is not available: a template is self-contained"),
    (
        "{% import 'macros' as m %}",
        "line 1: 'import' is not available: a template is self-contained",
    ),
    (
        "x\n{% from 'macros' import m %}",
        "line 2: 'from … import' is not available: a template is self-contained",
    ),
    (
        "{% autoescape false %}{{ exchange.subject }}{% endautoescape %}",
        "line 1: 'autoescape' blocks are not allowed: escaping is fixed",
    ),
    ("{{ exchange.subject|safe }}", "line 1: syntax error: No filter named 'safe'."),
    ("{{ exchange|pprint }}", "line 1: syntax error: No filter named 'pprint'."),
    ("{% debug %}", "line 1: syntax error: Encountered unknown tag 'debug'."),
]


@pytest.mark.parametrize(("template", "error"), REFUSED, ids=[t for t, _ in REFUSED])
def test_refused(template: str, error: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render(template, VALUES)
    assert str(caught.value).startswith(error), str(caught.value)
    assert time.monotonic() - started < 2  # refused promptly, not after building the result


TIMED_OUT = [
    # Nested loops without any output: only the deadline stops them.
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    # Loops over plain lists call no sandbox hook; the instrumented loop body still ticks.
    "{% set l = range(5000)|list %}{% for i in l %}{% for j in l %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 60000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    # Exponential recursion within the depth limit.
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
]


@pytest.mark.parametrize("template", TIMED_OUT)
def test_long_renders_are_stopped_by_the_deadline(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render(template, VALUES, max_seconds=0.2)
    elapsed = time.monotonic() - started
    assert caught.value.reason == (
        "rendering took longer than 0.2 s (a loop or a recursion too long?)"
    )
    assert 0.2 <= elapsed < 1.5


HARMLESS = [
    # What the sandbox lets through shows plain values only, never an object to climb from.
    ("{{ '%s'|format(exchange.subject) }}", "Relance devis <maintenance> & support"),
    (
        "{{ '%s' % company }}",
        "{'id': 3, 'name': 'ACME', 'status': 'client', 'owner': 'Alice Martin'}",
    ),
    ("{{ '%5.1f|%-4s|%03d'|format(3.14159, 'ab', 7) }}", "  3.1|ab  |007"),
    ("{{ self }}", "<TemplateReference None>"),
    ("{{ namespace }}", "<class 'jinja2.utils.Namespace'>"),
    ("{{ exchange.keys()|list|length }}", "20"),
    (
        "{% set ns = namespace(n=0) %}{% for o in opportunities %}{% set ns.n = ns.n + 1 %}"
        "{% endfor %}{{ ns.n }}",
        "1",
    ),
    ("{{ range(3)|list }}", "[0, 1, 2]"),
    ("{{ 2 ** 64 }}", "18446744073709551616"),
    ("{{ ('ab' * 3)|upper }}", "ABABAB"),
]


@pytest.mark.parametrize(("template", "output"), HARMLESS, ids=[t for t, _ in HARMLESS])
def test_harmless(template: str, output: str) -> None:
    assert render(template, VALUES) == output


def test_a_dict_method_name_shows_nothing_usable() -> None:
    # No field is called "items": Jinja falls back to the dict's method, whose repr is inert.
    assert render("{{ exchange.items }}", VALUES).startswith("<built-in method items of dict")


def test_undefined_attribute() -> None:
    with pytest.raises(TemplateError, match=r"^line 1: undefined value: 'x' is undefined$"):
        render("{{ x.y }}", VALUES)


def test_a_refusal_swallowed_by_template_code_still_fails_the_render() -> None:
    # The default filter would hide an undefined; it cannot hide a refusal.
    with pytest.raises(TemplateError, match="access to '__class__'"):
        render("{{ (''|attr('__class__'))|default('fine') }}", VALUES)


def test_values_are_escaped_in_html() -> None:
    payload = {"exchange": {"subject": "<script>alert(1)</script>"}}
    assert render_html("<p>{{ exchange.subject }}</p>", payload) == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    # In text mode the same value stays as typed (a subject line, an SMS).
    assert render("{{ exchange.subject }}", payload) == "<script>alert(1)</script>"


def test_a_markup_value_is_escaped_like_any_string() -> None:
    from markupsafe import Markup

    assert render_html("{{ v }}", {"v": Markup("<b>bold</b>")}) == "&lt;b&gt;bold&lt;/b&gt;"


def test_check_template_refuses_at_save_time() -> None:
    with pytest.raises(TemplateError, match=r"^line 2: access to '__class__'"):
        check_template("Bonjour\n{{ recipient.name.__class__ }}")
    with pytest.raises(TemplateError, match=r"^line 1: the \* operator would be"):
        check_template("{{ exchange.subject * 100000 }}")
