"""A compiled condition: parse, check, then evaluate in Python or compile to SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement

from grc_core.rules.catalogue import Catalogue
from grc_core.rules.checker import Checker
from grc_core.rules.context import Context
from grc_core.rules.grammar import parse
from grc_core.rules.nodes import And, Atom, Node, Not, Or
from grc_core.timeutil import require_aware


@dataclass(frozen=True)
class Condition:
    """A checked condition, ready to evaluate; immutable, so one compiled rule may be shared
    by every event and every sweep.

    :param source: the text it was compiled from.
    :param root: the checked tree (see :mod:`grc_core.rules.nodes`).
    """

    source: str
    root: Node

    def evaluate(self, context: Context) -> bool:
        """True when the exchange (or event target) described by ``context`` satisfies it."""
        return self.root.evaluate(context)

    def explain(self, context: Context) -> str:
        """Why the condition holds or not for ``context``, as lines of text.

        The first line gives the verdict; then each sub-condition that decided it, indented
        under its parent, with its position and the values compared.  When the condition is
        false only the failing parts are listed — what ``grc rules test`` shows.
        """
        verdict = self.evaluate(context)
        head = "the condition holds" if verdict else "the condition does not hold"
        subject = f" for exchange {context.exchange_id}" if context.exchange_id else ""
        at = context.now.isoformat(" ")
        return "\n".join([f"{head}{subject} (now() = {at})", *self.root.reasons(context, 0)])

    def to_sql(
        self,
        now: datetime,
        *,
        event_kind: str | None = None,
        event_actor: str | None = None,
    ) -> ColumnElement[bool]:
        """The condition as a ``WHERE`` predicate on :class:`~grc_core.models.Exchange`.

        Use it as ``select(Exchange.id).where(condition.to_sql(now))``; it needs no join
        (related records are tested through correlated ``EXISTS``).  ``now()`` is ``now``,
        computed into bound parameters here — never the database clock — so the Python and
        SQL evaluations at the same ``now`` agree.  ``event.*`` fields take the given values
        (an escalation has none: they are empty).
        """
        when = require_aware(now, "now")
        event = Context(when, {"event.kind": event_kind, "event.actor": event_actor})
        return self.root.to_sql(when, event)

    def atoms(self) -> Iterator[Atom]:
        """Every field test in the condition, left to right."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, And | Or):
                stack.extend(reversed(node.parts))
            elif isinstance(node, Not):
                stack.append(node.part)
            elif isinstance(node, Atom):
                yield node

    @property
    def fields(self) -> frozenset[str]:
        """The names of the fields the condition reads."""
        return frozenset(atom.field.name for atom in self.atoms())

    @property
    def uses_event(self) -> bool:
        """True when the condition reads ``event.*`` (so it only makes sense for events)."""
        return any(atom.field.is_event for atom in self.atoms())


def compile_condition(source: str, catalogue: Catalogue, *, escalation: bool = False) -> Condition:
    """Parse and check a condition; what a rule's ``condition`` text becomes.

    :param source: the condition text; blank (or only comments) means "always".
    :param catalogue: the fields, custom fields and codes that exist
        (:meth:`Catalogue.load`).
    :param escalation: ``True`` for an escalation rule, which has no triggering event and
        so may not read ``event.*``.
    :raises RuleSyntaxError: the text does not follow the grammar.
    :raises RuleTypeError: an unknown field or code, or types that do not go together.
    """
    tree = parse(source)
    root = Checker(source, catalogue, allow_event=not escalation).check(tree)
    return Condition(source, root)
