"""The rule condition language: a safe, typed expression language over exchanges.

An administrator writes conditions such as::

    exchange.action = 'todo' and exchange.status != 'done' and exchange.end < now() - 2d

:func:`compile_condition` parses one (lark, LALR) and checks its fields and types against a
:class:`Catalogue`; the resulting :class:`Condition` evaluates in Python against a
:class:`Context` (event rules) or compiles to an SQL predicate on exchanges (escalation
sweeps), and both readings agree on SQLite and PostgreSQL.  Nothing is ever passed to
``eval`` and no condition text reaches SQL: values become bound parameters.

The grammar and semantics are documented in ``docs/rules.md``.
"""

from grc_core.rules.catalogue import Catalogue, CustomFieldInfo, FieldSpec
from grc_core.rules.condition import Condition, compile_condition
from grc_core.rules.context import Context, event_context, exchange_context, snapshot_context
from grc_core.rules.errors import RuleError, RuleSyntaxError, RuleTypeError
from grc_core.rules.values import Type

__all__ = [
    "Catalogue",
    "Condition",
    "Context",
    "CustomFieldInfo",
    "FieldSpec",
    "RuleError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Type",
    "compile_condition",
    "event_context",
    "exchange_context",
    "snapshot_context",
]
