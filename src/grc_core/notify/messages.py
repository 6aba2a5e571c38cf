"""What a notification says, and whether a rule fires: the bridge from events to text.

Templates only ever see :func:`merge_values` — plain strings, numbers and dates chosen
here — never ORM objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from grc_core.models import Company, Opportunity, Rule, User

if TYPE_CHECKING:
    from grc_core.notify.fanout import Facts


#: Kinds the templates' event labels do not cover (no event row behind them).
_LABELS = {"escalation": "Relance automatique"}


def subscription_message(session: Session, facts: Facts, recipient: User) -> tuple[str, str]:
    """The subject and text of a notification sent to a subscriber.

    Built from the same mail-merge fields rule templates get (:func:`template_values`),
    plus the old and new values of what changed.
    """
    v = template_values(session, facts, recipient)
    # A group is None when there is nothing to say about it (no company, no event...).
    exchange, company = v["exchange"] or {}, v["company"] or {}
    event, actor = v["event"] or {}, v["actor"] or {}
    label = event.get("label") or _LABELS.get(facts.event.kind, facts.event.kind)
    what = exchange.get("subject") or ""
    where = company.get("name") or "Échange global"
    subject = f"[GRC] {label} — {where}" + (f" : {what}" if what else "")
    lines = [
        f"Bonjour {v['recipient']['name']},",
        "",
        f"{label} par {actor.get('name') or 'GRC'} — {where}.",
    ]
    if what:
        lines.append(f"Objet : {what}")
    if exchange.get("start"):
        lines.append(f"Date : {exchange['start']}")
    if facts.event.kind.endswith(("updated", "completed", "status_changed", "stage_changed")):
        for name, change in facts.event.changes.items():
            if name != "details" and isinstance(change, list) and len(change) == 2:
                lines.append(f"{name} : {change[0]} → {change[1]}")
    return subject[:300], "\n".join(lines)


def condition_of(session: Session, rule: Rule) -> Any:
    """The compiled condition of ``rule`` (``None`` when it has none).

    Compiling parses and checks the text against the custom fields of the moment; it is
    done once per rule and session (a fan-out pass), not once per event.
    """
    if not rule.condition.strip():
        return None
    from grc_core.rules import Catalogue, compile_condition

    cache: dict[tuple[int, str], Any] = session.info.setdefault("grc.rule_conditions", {})
    key = (rule.id, rule.condition)
    if key not in cache:
        catalogue = session.info.get("grc.rule_catalogue")
        if catalogue is None:
            catalogue = session.info["grc.rule_catalogue"] = Catalogue.load(session)
        cache[key] = compile_condition(rule.condition, catalogue, escalation=rule.escalation)
    return cache[key]


def rule_context(session: Session, facts: Facts, now: datetime) -> Any:
    """The values a rule's condition is evaluated on."""
    from grc_core.rules import event_context, exchange_context

    if facts.event.id is None:  # an escalation: no event, the exchange as it is
        assert facts.exchange is not None
        return exchange_context(session, facts.exchange, now=now)
    return event_context(session, facts.event, now=now)


def rule_matches(session: Session, rule: Rule, facts: Facts, *, now: datetime) -> bool:
    """Whether ``rule``'s condition holds for the event."""
    condition = condition_of(session, rule)
    if condition is None:
        return True
    return bool(condition.evaluate(rule_context(session, facts, now)))


def template_values(session: Session, facts: Facts, recipient: User) -> dict[str, object]:
    """Every documented mail-merge field (:data:`grc_core.notify.templates.FIELDS`).

    Users carry no time zone of their own yet, so everything but the recipient's fields is
    the same for every recipient of an event: it is computed once per event.
    """
    from grc_core.notify.templates import merge_fields

    if facts.template_values is None:
        event = facts.event
        facts.template_values = merge_fields(
            exchange=facts.exchange if facts.exchange is not None else (facts.snapshot or None),
            company=session.get(Company, facts.company_id) if facts.company_id else None,
            opportunities=[
                o for o in (session.get(Opportunity, i) for i in facts.opportunity_ids) if o
            ],
            actor=session.get(User, event.actor_id) if event.actor_id else None,
            event=event if event.id is not None else None,
        )
    return facts.template_values | {"recipient": merge_fields(recipient=recipient)["recipient"]}


def rule_message(
    session: Session, rule: Rule, facts: Facts, recipient: User, *, now: datetime
) -> tuple[str, str]:
    """A rule's message, rendered from its templates (or the default wording).

    :raises TemplateError: a template fails on these values (fan-out then skips the rule
        for this event, with a warning, instead of holding every other notification).
    """
    from grc_core.notify.templates import render

    default_subject, default_body = subscription_message(session, facts, recipient)
    if not (rule.subject_template or rule.body_template):
        return default_subject, default_body
    values = template_values(session, facts, recipient)
    subject = render(rule.subject_template, values) if rule.subject_template else default_subject
    body = render(rule.body_template, values) if rule.body_template else default_body
    return subject.strip()[:300] or default_subject, body
