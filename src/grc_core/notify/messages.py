"""What a notification says, and whether a rule fires: the bridge from events to text.

Templates only ever see :func:`merge_values` — plain strings, numbers and dates chosen
here — never ORM objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.models import Company, Opportunity, Rule, User
from grc_core.timeutil import zone

if TYPE_CHECKING:
    from grc_core.notify.fanout import Facts

#: How each event kind is announced (French first: the users' language).
KIND_LABELS = {
    "exchange.created": "Nouvel échange",
    "exchange.updated": "Échange modifié",
    "exchange.completed": "Échange terminé",
    "exchange.deleted": "Échange supprimé",
    "attachment.added": "Pièce jointe ajoutée",
    "attachment.deleted": "Pièce jointe supprimée",
    "company.status_changed": "Changement de statut",
    "opportunity.stage_changed": "Opportunité : nouvelle étape",
    "escalation": "Relance automatique",
}


def merge_values(session: Session, facts: Facts, recipient: User) -> dict[str, Any]:
    """The mail-merge fields of a message (allow-listed plain values only)."""
    if facts.values is None:  # what does not depend on the recipient, once per event
        facts.values = _event_values(session, facts)
    return facts.values | {"recipient": {"name": recipient.display_name, "login": recipient.login}}


def _event_values(session: Session, facts: Facts) -> dict[str, Any]:
    event = facts.event
    ex, snap = facts.exchange, facts.snapshot
    tz = zone("Europe/Paris")
    start = ex.start_at if ex is not None else snap.get("start")
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    company = (
        session.scalar(select(Company.name).where(Company.id == facts.company_id))
        if facts.company_id is not None
        else None
    )
    actor = session.get(User, event.actor_id) if event.actor_id else None
    changes = {k: v for k, v in event.changes.items() if isinstance(v, list) and len(v) == 2}
    return {
        "event": {"kind": event.kind, "label": KIND_LABELS.get(event.kind, event.kind)},
        "exchange": {
            "id": facts.exchange_id,
            "subject": ex.subject if ex is not None else snap.get("subject"),
            "status": ex.status.code if ex is not None else snap.get("status"),
            "action": ex.action.code if ex is not None else snap.get("action"),
            "start": start.astimezone(tz).strftime("%d/%m/%Y %H:%M") if start else None,
        },
        "company": {"id": facts.company_id, "name": company},
        "actor": {"name": actor.display_name if actor else None},
        "changes": {k: [str(v[0]), str(v[1])] for k, v in changes.items() if k != "details"},
    }


def subscription_message(session: Session, facts: Facts, recipient: User) -> tuple[str, str]:
    """The subject and text of a notification sent to a subscriber."""
    v = merge_values(session, facts, recipient)
    what = v["exchange"]["subject"] or v["changes"].get("status", ["", ""])[1] or ""
    where = v["company"]["name"] or "Échange global"
    subject = f"[GRC] {v['event']['label']} — {where}" + (f" : {what}" if what else "")
    lines = [
        f"Bonjour {v['recipient']['name']},",
        "",
        f"{v['event']['label']} par {v['actor']['name'] or 'GRC'} — {where}.",
    ]
    if v["exchange"]["subject"]:
        lines.append(f"Objet : {v['exchange']['subject']}")
    if v["exchange"]["start"]:
        lines.append(f"Date : {v['exchange']['start']}")
    for name, (old, new) in v["changes"].items():
        if facts.event.kind.endswith(("updated", "completed", "status_changed", "stage_changed")):
            lines.append(f"{name} : {old} → {new}")
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
    """Every documented mail-merge field (:data:`grc_core.notify.templates.FIELDS`)."""
    from grc_core.notify.templates import merge_fields

    if facts.template_values is None:  # the records are read once per event
        event = facts.event
        facts.template_values = {
            "exchange": facts.exchange if facts.exchange is not None else (facts.snapshot or None),
            "company": session.get(Company, facts.company_id) if facts.company_id else None,
            "opportunities": [
                o for o in (session.get(Opportunity, i) for i in facts.opportunity_ids) if o
            ],
            "actor": session.get(User, event.actor_id) if event.actor_id else None,
            "event": event if event.id is not None else None,
        }
    return merge_fields(recipient=recipient, **facts.template_values)


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
