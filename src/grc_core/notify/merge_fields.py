"""The mail-merge fields: the plain values a message template is rendered with.

:func:`merge_fields` reads exchanges, companies, contacts, opportunities, users and events
once and turns them into plain values (:func:`~grc_core.notify.sandbox.plain_values`);
:data:`FIELDS` documents every field.  Public names are imported from
:mod:`grc_core.notify.templates`; this module sits above the sandbox and imports nothing
else from :mod:`grc_core.notify`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from grc_core.notify.sandbox import plain_values
from grc_core.timeutil import DEFAULT_TIMEZONE, zone

# --- the mail-merge fields -------------------------------------------------------------------

#: Every mail-merge field, by record, with what it holds (documented in
#: ``docs/notifications-templates.md``; a test keeps the two in step).
FIELDS: dict[str, dict[str, str]] = {
    "exchange": {
        "id": "the exchange's number",
        "uuid": "its UUID, as text",
        "subject": "its subject",
        "details": "its details (free text)",
        "start": "its start, formatted in the recipient's time zone (2026-03-02 10:00)",
        "end": "its end, formatted likewise",
        "start_datetime": "its start as a date-time in the recipient's zone (for strftime)",
        "end_datetime": "its end likewise",
        "action": "the action's label (Appel, Réunion…)",
        "action_code": "the action's code (call, meeting, todo…)",
        "status": "the status's label",
        "status_code": "the status's code (planned, done…)",
        "medium": "the medium's label, or none",
        "medium_code": "the medium's code, or none",
        "category": "the category's label, or none",
        "category_code": "the category's code, or none",
        "private": "true for a private exchange",
        "is_global": "true when it concerns no company",
        "assignees": "the assigned users' names, a list",
        "custom": "its custom field values by field code, a dict",
    },
    "company": {
        "id": "the company's number",
        "name": "its name",
        "status": "client, prospect or suspect",
        "owner": "its owner's name, or none",
    },
    "opportunity": {
        "id": "the (first) opportunity's number",
        "title": "its title",
        "stage": "its stage's label",
        "stage_code": "its stage's code",
        "amount": "its amount (a Decimal), or none",
        "expected_close": "its expected closing date (a date), or none",
    },
    "opportunities": {"[]": "every linked opportunity, a list of the opportunity fields"},
    "author": {
        "name": "the exchange author's name",
        "login": "their login",
        "email": "their e-mail address, or none",
    },
    "actor": {
        "name": "the name of who made the change",
        "login": "their login",
    },
    "recipient": {
        "name": "the recipient's name",
        "login": "their login",
        "email": "their e-mail address, or none",
        "timezone": "their time zone",
    },
    "event": {
        "id": "the event's number",
        "kind": "what happened (exchange.created, company.status_changed…)",
        "label": "the same in words (Nouvel échange, New exchange…)",
        "occurred": "when, formatted in the recipient's zone",
        "occurred_datetime": "when, as a date-time in the recipient's zone",
        "changed": "the names of the changed fields, a list",
    },
    "changes": {"[field]": "for each changed field, [old value, new value] as text"},
    "link": {"": "a link to the record, when the host application gives one"},
}

#: Fields whose content is not a fixed record (a list, a dict by field name, a string).
_FREE_FORM = frozenset({"changes", "opportunities", "link"})

_EVENT_LABELS = {
    "exchange.created": ("Nouvel échange", "New exchange"),
    "exchange.updated": ("Échange modifié", "Exchange updated"),
    "exchange.completed": ("Échange terminé", "Exchange completed"),
    "exchange.deleted": ("Échange supprimé", "Exchange deleted"),
    "exchange.imported": ("Échanges importés", "Exchanges imported"),
    "attachment.added": ("Pièce jointe ajoutée", "Attachment added"),
    "attachment.deleted": ("Pièce jointe supprimée", "Attachment deleted"),
    "company.status_changed": ("Changement de statut", "Company status changed"),
    "opportunity.stage_changed": ("Opportunité : nouvelle étape", "Opportunity stage changed"),
    "escalation": ("Relance automatique", "Reminder"),
}

DATETIME_FORMAT = "%Y-%m-%d %H:%M"


def _when(value: datetime | str | None, tz: str) -> tuple[str | None, datetime | None]:
    if value is None:
        return None, None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # stored values are UTC; a naive one is read as such
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone(tz))
    return local.strftime(DATETIME_FORMAT), local


def _label(value: Any, language: str) -> tuple[str | None, str | None]:
    """(label, code) of a picklist value or category, or of a bare code."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, value
    return value.label(language), value.code


def _person(user: Any) -> dict[str, object] | None:
    if user is None:
        return None
    return {
        "name": user.display_name,
        "login": user.login,
        "email": user.email,
    }


def _opportunity(opportunity: Any, language: str) -> dict[str, object]:
    stage, stage_code = _label(opportunity.stage, language)
    return {
        "id": opportunity.id,
        "title": opportunity.title,
        "stage": stage,
        "stage_code": stage_code,
        "amount": opportunity.amount,
        "expected_close": opportunity.expected_close,
    }


def _exchange_fields(exchange: Any, tz: str, language: str) -> dict[str, object]:
    """The ``exchange`` fields of an :class:`~grc_core.models.Exchange` or of an event's
    snapshot of one (a deleted exchange: codes stand for labels)."""
    if isinstance(exchange, Mapping):
        get = exchange.get
        values = {
            "id": get("id"),
            "uuid": get("uuid"),
            "subject": get("subject"),
            "details": get("details"),
            "start": get("start"),
            "end": get("end"),
            "action": get("action"),
            "status": get("status"),
            "medium": get("medium"),
            "category": get("category"),
            "private": bool(get("private")),
            "company_id": get("company_id"),
            "assignees": list(get("assignees") or []),
            "custom": dict(get("custom") or {}),
        }
    else:
        values = {
            "id": exchange.id,
            "uuid": str(exchange.uuid),
            "subject": exchange.subject,
            "details": exchange.details,
            "start": exchange.start_at,
            "end": exchange.end_at,
            "action": exchange.action,
            "status": exchange.status,
            "medium": exchange.medium,
            "category": exchange.category,
            "private": exchange.private,
            "company_id": exchange.company_id,
            "assignees": [u.display_name for u in exchange.assignees],
            "custom": exchange.custom,
        }
    fields: dict[str, object] = {
        "id": values["id"],
        "uuid": str(values["uuid"]) if values["uuid"] is not None else None,
        "subject": values["subject"],
        "details": values["details"],
        "private": values["private"],
        "is_global": values["company_id"] is None,
        "assignees": values["assignees"],
        "custom": values["custom"],
    }
    fields["start"], fields["start_datetime"] = _when(values["start"], tz)  # type: ignore[arg-type]
    fields["end"], fields["end_datetime"] = _when(values["end"], tz)  # type: ignore[arg-type]
    for name in ("action", "status", "medium", "category"):
        fields[name], fields[f"{name}_code"] = _label(values[name], language)
    return fields


def merge_fields(
    *,
    recipient: Any = None,
    exchange: Any = None,
    company: Any = None,
    opportunity: Any = None,
    opportunities: Sequence[Any] | None = None,
    author: Any = None,
    actor: Any = None,
    event: Any = None,
    link: str | None = None,
    timezone: str | None = None,
    language: str = "fr",
) -> dict[str, object]:
    """The mail-merge values of a message, as plain values ready for
    :func:`~grc_core.notify.sandbox.render`.

    Every field of :data:`FIELDS` is present (``None`` when there is nothing to say), so a
    template never meets an undefined record.  ORM objects are read here, once; none is
    passed on.  The caller has already checked that the recipient may see what the values
    describe (the pipeline does, at fan-out and before delivery).

    :param recipient: a :class:`~grc_core.models.User` or a
        :class:`~grc_core.notify.channels.Recipient`.
    :param exchange: an :class:`~grc_core.models.Exchange`, or the snapshot an event carries
        of a deleted one (a mapping of :func:`grc_core.services.exchanges.snapshot` keys).
    :param company: a :class:`~grc_core.models.Company`; defaults to the exchange's.
    :param opportunity: an :class:`~grc_core.models.Opportunity`; defaults to the first of
        ``opportunities``.
    :param opportunities: defaults to the exchange's linked opportunities.
    :param author: a :class:`~grc_core.models.User`; defaults to the exchange's author.
    :param actor: the :class:`~grc_core.models.User` who made the change.
    :param event: an :class:`~grc_core.models.Event` (kind, time, changed fields).
    :param link: a URL to the record, if the host application has one.
    :param timezone: the zone dates are formatted in; defaults to the recipient's
        (a ``Recipient``'s ``timezone``), else Europe/Paris.
    :param language: ``fr`` or ``en``, for picklist labels and the event label.
    """
    tz = timezone or getattr(recipient, "timezone", None) or DEFAULT_TIMEZONE
    zone(tz)  # an unknown zone is a ConfigError now rather than a failure per message
    english = language == "en"

    exchange_fields = None
    if exchange is not None:
        exchange_fields = _exchange_fields(exchange, tz, language)
        if not isinstance(exchange, Mapping):
            company = company if company is not None else exchange.company
            author = author if author is not None else exchange.author
            if opportunities is None:
                opportunities = list(exchange.opportunities)
    opportunity_list = [_opportunity(o, language) for o in (opportunities or [])]
    first: dict[str, object] | None
    if opportunity is not None:
        first = _opportunity(opportunity, language)
        company = company if company is not None else opportunity.company
    else:
        first = opportunity_list[0] if opportunity_list else None

    company_fields = None
    if company is not None:
        status = company.status
        company_fields = {
            "id": company.id,
            "name": company.name,
            "status": status.value if isinstance(status, enum.Enum) else status,
            "owner": company.owner.display_name if company.owner is not None else None,
        }

    recipient_fields = None
    if recipient is not None:
        recipient_fields = {
            "name": getattr(recipient, "display_name", None) or getattr(recipient, "name", ""),
            "login": recipient.login,
            "email": recipient.email,
            "timezone": tz,
        }

    event_fields = None
    changes: dict[str, object] = {}
    if event is not None:
        occurred, occurred_local = _when(event.occurred_at, tz)
        labels = _EVENT_LABELS.get(event.kind, (event.kind, event.kind))
        raw_changes = event.changes or {}
        event_fields = {
            "id": event.id,
            "kind": event.kind,
            "label": labels[1] if english else labels[0],
            "occurred": occurred,
            "occurred_datetime": occurred_local,
            "changed": sorted(raw_changes),
        }
        changes = {
            name: ["" if old is None else str(old), "" if new is None else str(new)]
            for name, pair in raw_changes.items()
            if isinstance(pair, list | tuple) and len(pair) == 2
            for old, new in [pair]
        }

    actor_fields = None
    if actor is not None:
        actor_fields = {"name": actor.display_name, "login": actor.login}

    return plain_values(
        {
            "exchange": exchange_fields,
            "company": company_fields,
            "opportunity": first,
            "opportunities": opportunity_list,
            "author": _person(author),
            "actor": actor_fields,
            "recipient": recipient_fields,
            "event": event_fields,
            "changes": changes,
            "link": link,
        }
    )


def sample_fields(*, timezone: str = DEFAULT_TIMEZONE) -> dict[str, object]:
    """Realistic example values of every field: the trial render of
    :func:`~grc_core.notify.templates.check_template` uses them, and so can a rule editor's
    preview."""
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    local = start.astimezone(zone(timezone))
    opportunity = {
        "id": 7,
        "title": "Renouvellement 2026",
        "stage": "Proposition",
        "stage_code": "proposal",
        "amount": Decimal("12500.00"),
        "expected_close": date(2026, 6, 30),
    }
    return plain_values(
        {
            "exchange": {
                "id": 42,
                "uuid": "6f1c1f0e-8a52-4bb5-9a7e-2f3d8c1b5a10",
                "subject": "Relance devis <maintenance> & support",
                "details": "Le client attend notre proposition révisée.\nRappeler jeudi.",
                "start": local.strftime(DATETIME_FORMAT),
                "end": local.strftime(DATETIME_FORMAT),
                "start_datetime": local,
                "end_datetime": local,
                "action": "Appel",
                "action_code": "call",
                "status": "Prévu",
                "status_code": "planned",
                "medium": "Téléphone",
                "medium_code": "phone",
                "category": None,
                "category_code": None,
                "private": False,
                "is_global": False,
                "assignees": ["Alice Martin", "Bruno Petit"],
                "custom": {"priority": "haute"},
            },
            "company": {"id": 3, "name": "ACME", "status": "client", "owner": "Alice Martin"},
            "opportunity": opportunity,
            "opportunities": [opportunity],
            "author": {"name": "Alice Martin", "login": "alice", "email": "alice@example.com"},
            "actor": {"name": "Alice Martin", "login": "alice"},
            "recipient": {
                "name": "Bruno Petit",
                "login": "bruno",
                "email": "bruno@example.com",
                "timezone": timezone,
            },
            "event": {
                "id": 1001,
                "kind": "exchange.updated",
                "label": "Échange modifié",
                "occurred": local.strftime(DATETIME_FORMAT),
                "occurred_datetime": local,
                "changed": ["status", "subject"],
            },
            "changes": {"status": ["planned", "done"], "subject": ["Relance", "Relance devis"]},
            "link": "https://grc.example.com/exchanges/42",
        }
    )
