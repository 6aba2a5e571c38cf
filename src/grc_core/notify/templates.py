"""Message templates: Jinja2 in a locked-down sandbox, fed only plain mail-merge values.

This is the entry point: every public name is imported from here.  The code is in two
modules below it — :mod:`grc_core.notify.sandbox` (rendering and its budgets) and
:mod:`grc_core.notify.merge_fields` (the values a template is given) — and here is only
:func:`check_template`, which needs both.

Templates are *text* stored in notification rules and written by administrators; they are
rendered for every recipient of every matching event.  So a template must neither reach
anything but the values given to it, nor take the worker down.  This module layers, on top
of Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:

- **plain values only** — :func:`plain_values` refuses anything but ``str``, ``int``,
  ``float``, ``Decimal``, ``bool``, ``None``, ``date``, ``datetime`` and lists and dicts of
  them, so ORM objects (and their session, engine, connection…) never reach a template;
  :func:`merge_fields` builds those values from exchanges, companies, users and events;
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

from jinja2 import meta, nodes

from grc_core.notify.merge_fields import _FREE_FORM

# Re-exported: templates, plugins, docs and tests import these names from this module.
from grc_core.notify.merge_fields import DATETIME_FORMAT as DATETIME_FORMAT
from grc_core.notify.merge_fields import FIELDS as FIELDS
from grc_core.notify.merge_fields import merge_fields as merge_fields
from grc_core.notify.merge_fields import sample_fields as sample_fields
from grc_core.notify.sandbox import DEFAULT_MAX_OUTPUT as DEFAULT_MAX_OUTPUT
from grc_core.notify.sandbox import DEFAULT_MAX_SECONDS as DEFAULT_MAX_SECONDS
from grc_core.notify.sandbox import GLOBAL_NAMES as GLOBAL_NAMES
from grc_core.notify.sandbox import MAX_CALL_DEPTH as MAX_CALL_DEPTH
from grc_core.notify.sandbox import MAX_RANGE as MAX_RANGE
from grc_core.notify.sandbox import MAX_TEMPLATE_LENGTH as MAX_TEMPLATE_LENGTH
from grc_core.notify.sandbox import TemplateError as TemplateError
from grc_core.notify.sandbox import _compiled as _compiled
from grc_core.notify.sandbox import _environment as _environment
from grc_core.notify.sandbox import plain_values as plain_values
from grc_core.notify.sandbox import render as render
from grc_core.notify.sandbox import render_html as render_html
from grc_core.notify.sandbox import render_text as render_text

# --- checking a template when a rule is saved ------------------------------------------------


def _field_errors(tree: nodes.Template) -> list[str]:
    """Check every name and ``record.field`` the template reads; the fields it uses."""
    undeclared = meta.find_undeclared_variables(tree)
    allowed = set(FIELDS) | GLOBAL_NAMES | {"caller"}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in undeclared and node.name not in allowed:
            raise TemplateError(
                f"unknown field {node.name!r}; the fields are: {', '.join(sorted(FIELDS))}",
                line=node.lineno,
            )
    used: set[str] = {name for name in undeclared if name in FIELDS}
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(access, nodes.Getattr):
            target, attribute = access.node, access.attr
        elif (
            isinstance(access, nodes.Getitem)
            and isinstance(access.arg, nodes.Const)
            and isinstance(access.arg.value, str)
        ):
            target, attribute = access.node, access.arg.value
        else:
            continue
        if not (isinstance(target, nodes.Name) and target.name in undeclared):
            continue
        if target.name not in FIELDS or target.name in _FREE_FORM:
            continue
        known = FIELDS[target.name]
        if attribute not in known:
            raise TemplateError(
                f"{target.name} has no field {attribute!r}; its fields are: "
                f"{', '.join(sorted(known))}",
                line=access.lineno,
            )
        used.add(f"{target.name}.{attribute}")
    return sorted(used)


def check_template(text: str, *, html: bool = False) -> list[str]:
    """Check a template when a rule is saved, and return the fields it uses.

    Syntax (with the line), structure (no include, import, extends or autoescape), the
    names and ``record.field`` it reads (each must be a documented mail-merge field), and a
    trial render with :func:`sample_fields` — so that what the sandbox would refuse at
    delivery is refused now.

    :param text: the template text.
    :param html: check it as an HTML template.
    :returns: the fields used, sorted (``["company.name", "exchange", "exchange.subject"]``).
    :raises TemplateError: what is wrong, with the line when it is known.
    """
    _compiled(text, html)  # syntax, length and structure
    env = _environment(html)
    used = _field_errors(env.parse(text))
    render(text, sample_fields(), html=html)
    return used


__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_MAX_SECONDS",
    "FIELDS",
    "MAX_CALL_DEPTH",
    "MAX_RANGE",
    "TemplateError",
    "check_template",
    "merge_fields",
    "plain_values",
    "render",
    "render_html",
    "render_text",
    "sample_fields",
]
