"""What a notification says, and whether a rule fires: the bridge from events to text.

Templates only ever see :func:`merge_values` — plain strings, numbers and dates chosen
here — never ORM objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.models import Company, Contact, Opportunity, Rule, User
from grc_core.notify.facts import Facts

#: Words for the kinds the templates' event labels do not cover.
_LABELS = {
    "escalation": "Relance automatique",
    "company.created": "Nouvelle société",
    "company.updated": "Société modifiée",
    "contact.created": "Nouveau contact",
    "contact.updated": "Contact modifié",
    "contact.moved": "Contact : changement de société",
    "opportunity.created": "Nouvelle opportunité",
    "opportunity.updated": "Opportunité modifiée",
    "opportunity.transferred": "Opportunité transférée",
}

#: What a recipient who could not see the exchange before the event is told instead of
#: the change itself (the event may have made it shared, or assigned them).
SHARED_LABEL = "Échange partagé avec vous"

#: The two ways of telling of an event: with its old values (``full``, for those who could
#: see the exchange before it) or with the current values only (``shared``).
FULL, SHARED = "full", "shared"

#: How change lines name fields (others keep their code).
_FIELD_LABELS = {
    "subject": "objet",
    "start": "début",
    "end": "fin",
    "action": "action",
    "status": "statut",
    "medium": "support",
    "category": "catégorie",
    "private": "privé",
    "author_id": "auteur",
    "company_id": "société",
    "assignee_ids": "assignés",
    "opportunity_ids": "opportunités",
    "contact_ids": "contacts",
    "custom": "champs personnalisés",
    "owner_id": "responsable",
}


def view_for(facts: Facts, recipient: User) -> str:
    """``full`` when ``recipient`` may read the event's old values, else ``shared``."""
    return FULL if facts.reads_old_values(recipient) else SHARED


def subscription_message(session: Session, facts: Facts, recipient: User) -> tuple[str, str]:
    """The subject and text of a notification sent to a subscriber.

    Built from the same mail-merge fields rule templates get (:func:`template_values`),
    plus the old and new values of what changed — for a recipient who could see the
    exchange before the event.  One who could not (it was private, they were not assigned)
    is told that the exchange is now shared with them, with its current values only.
    """
    view = view_for(facts, recipient)
    v = template_values(session, facts, recipient)
    # A group is None when there is nothing to say about it (no company, no event...).
    exchange, company = _group(v, "exchange"), _group(v, "company")
    event, actor = _group(v, "event"), _group(v, "actor")
    kind = facts.event.kind
    label = event.get("label") if event.get("label") not in (None, kind) else None
    label = label or _LABELS.get(kind, kind)
    what = exchange.get("subject") or ""
    if kind.startswith("attachment."):
        # The file's name tells two alerts about two files on one record apart.
        names = (facts.event.changes or {}).get("filename") or [None, None]
        filename = next((n for n in reversed(names) if n), None)
        what = f"{filename} ({what})" if filename and what else (filename or what)
    where = company.get("name") or "Échange global"
    subject = f"[GRC] {label} — {where}" + (f" : {what}" if what else "")
    lines = [f"Bonjour {_group(v, 'recipient')['name']},", ""]
    if view == SHARED:
        lines.append(f"Un échange vous est désormais visible — {where}.")
    else:
        lines.append(f"{label} par {actor.get('name') or 'GRC'} — {where}.")
    if what:
        lines.append(f"Objet : {what}")
    if exchange.get("start"):
        lines.append(f"Date : {exchange['start']}")
    if view == FULL and facts.event.kind.endswith(
        ("updated", "completed", "status_changed", "stage_changed")
    ):
        for name, (old, new) in readable_changes(session, facts.event.changes or {}).items():
            if name != "details":
                lines.append(f"{_FIELD_LABELS.get(name, name)} : {old} → {new}")
    return subject[:300], "\n".join(lines)


def _group(values: Mapping[str, object], name: str) -> dict[str, Any]:
    """A group of mail-merge fields (``exchange``, ``company``...), empty when it is None."""
    group = values[name]
    return group if isinstance(group, dict) else {}


def readable_changes(session: Session, changes: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{field: [old, new]}`` as text, with names for ids (users, company, opportunities,
    contacts) — the ids say nothing to a reader."""
    users: set[int] = set()
    for name in ("author_id", "assignee_ids", "owner_id"):
        for side in _pair(changes.get(name)):
            users |= set(_ids(side))
    names = (
        {
            i: n
            for i, n in session.execute(
                select(User.id, User.display_name).where(User.id.in_(users))
            )
        }
        if users
        else {}
    )
    out: dict[str, list[str]] = {}
    for name, pair in changes.items():
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            continue
        out[name] = [_readable(session, name, value, names) for value in pair]
    return out


def _pair(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) and len(value) == 2 else []


def _ids(value: Any) -> list[int]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple):
        return [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _readable(session: Session, name: str, value: Any, users: Mapping[int, str]) -> str:
    if value is None:
        return "—"
    if name in ("author_id", "assignee_ids", "owner_id"):
        return ", ".join(users.get(i, f"#{i}") for i in _ids(value)) or "—"
    if name == "company_id":
        company = session.get(Company, value) if isinstance(value, int) else None
        return company.name if company is not None else f"#{value}"
    if name == "opportunity_ids":
        opportunities = [session.get(Opportunity, i) for i in _ids(value)]
        return ", ".join(o.title for o in opportunities if o is not None) or "—"
    if name == "contact_ids":
        contacts = [session.get(Contact, i) for i in _ids(value)]
        return ", ".join(_contact_name(c) for c in contacts if c is not None) or "—"
    if name == "private":
        return "oui" if value else "non"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "—"
    return str(value)


def _contact_name(contact: Contact) -> str:
    first = getattr(contact, "first_name", None) or ""
    return f"{first} {contact.last_name}".strip()


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
    the same for every recipient of an event with the same view (:func:`view_for`): it is
    computed once per event and view.  In the ``shared`` view (a recipient who could not
    see the exchange before the event) ``changes`` and ``event.changed`` are empty and the
    event's label says that the exchange is now shared with them: no old value reaches them.
    """
    from grc_core.notify.templates import merge_fields

    view = view_for(facts, recipient)
    if view not in facts.views:
        facts.views[view] = _values_for_view(session, facts, view)
    if view == FULL:
        facts.template_values = facts.views[view]
    return facts.views[view] | {"recipient": merge_fields(recipient=recipient)["recipient"]}


def _values_for_view(session: Session, facts: Facts, view: str) -> dict[str, Any]:
    from grc_core.notify.templates import merge_fields

    event = facts.event
    changes = readable_changes(session, event.changes or {}) if view == FULL else {}
    stand_in = (
        SimpleNamespace(
            id=event.id, kind=event.kind, occurred_at=event.occurred_at, changes=changes
        )
        if event.id is not None
        else None
    )
    values = merge_fields(
        exchange=facts.exchange if facts.exchange is not None else (facts.snapshot or None),
        company=session.get(Company, facts.company_id) if facts.company_id else None,
        opportunities=[
            o for o in (session.get(Opportunity, i) for i in facts.opportunity_ids) if o
        ],
        actor=session.get(User, event.actor_id) if event.actor_id else None,
        event=stand_in,
    )
    shown_event = values.get("event")
    if view == SHARED and isinstance(shown_event, dict):
        values["event"] = dict(shown_event) | {"label": SHARED_LABEL}
    return values


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
