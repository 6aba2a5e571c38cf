"""Message templates: Jinja2 in a locked-down sandbox, fed only plain mail-merge values.

This is the entry point: every public name is imported from here.  The code is in two
modules below it — :mod:`grc_core.notify.sandbox` (rendering and its budgets) and
:mod:`grc_core.notify.merge_fields` (the values a template is given) — and here is only
:func:`check_template`, which needs both.

Templates are *text* stored in notification rules and written by administrators, rendered
for every recipient of every matching event: the layers that keep a template from reaching
anything but its values or taking the worker down (plain values only, no loader,
allow-listed attributes, filters and globals, time, size and structure budgets, bounded
recursion) are described in :mod:`grc_core.notify.sandbox`.

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
