"""One representation per resource: the JSON data of each record, for every host.

The HTTP API (``grc_api.schemas``, whose models validate these dicts) and the command line's
``--json`` both emit what the functions here return, so a script written against one reads
the other unchanged.  Each function returns a plain dict of JSON values (str, int, float,
bool, None, lists and dicts of them):

- date-times are ISO 8601 strings with their offset, in UTC unless ``tz`` gives the zone
  (the command line shows the configured one); dates are ``YYYY-MM-DD``;
- decimal amounts are canonical strings without trailing zeros (``"150012"``, ``"12.5"``),
  so that no client rounds them through a float;
- picklist values and categories are given by code, users by login, linked records as
  ``{"id", "name"}`` (``{"id", "title"}`` for opportunities);
- a list entry (a history row, a search hit) is a subset of the full resource, with the same
  names.

The core stays free of pydantic and of any HTTP or terminal concern: this module only reads
models (and, for names it needs, the session the record belongs to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from grc_core.models import (
    ApiToken,
    Attachment,
    Category,
    Company,
    Contact,
    CustomField,
    Exchange,
    Opportunity,
    PicklistValue,
    Preferences,
    Rule,
    Subscription,
    TargetKind,
    User,
)
from grc_core.notify.inbox import InboxEntry
from grc_core.notify.rule_admin import RECIPIENT_FLAGS
from grc_core.notify.subscriptions import DEFAULT_CHANNELS
from grc_core.queries.history import TimelineEntry
from grc_core.queries.search import SearchHit

__all__ = [
    "attachment",
    "category",
    "company",
    "contact",
    "custom_value",
    "decimal",
    "entry",
    "exchange",
    "field",
    "follows",
    "inbox_item",
    "instant",
    "opportunity",
    "picklist_value",
    "preferences",
    "rule",
    "search_hit",
    "subscription",
    "token",
    "user",
]

JsonDict = dict[str, Any]


# -- values ----------------------------------------------------------------------------------


def instant(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """A date-time as ISO 8601 with its offset, in ``tz`` (UTC by default)."""
    if value is None:
        return None
    if value.tzinfo is None:  # stored as UTC by the models' UTCDateTime type
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz or UTC).isoformat()


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _clock(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def decimal(value: Decimal | None) -> str | None:
    """A decimal as a canonical string: ``Decimal("150012.000000")`` → ``"150012"``."""
    if value is None:
        return None
    # normalize() alone would give "1.5E+5"; the "f" format never uses an exponent.
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _code(value: object) -> Any:
    return value.value if isinstance(value, Enum) else value


def custom_value(value: object, tz: tzinfo | None = None) -> Any:
    """A custom field value as JSON: decimals as canonical strings, dates in ISO 8601."""
    if isinstance(value, Decimal):
        return decimal(value)
    if isinstance(value, datetime):
        return instant(value, tz)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _version(record: object) -> int | None:
    return getattr(record, "version", None)


# -- users, companies, contacts, opportunities -----------------------------------------------


def user(record: User, tz: tzinfo | None = None) -> JsonDict:
    """A user (``name`` is the display name)."""
    return {
        "id": record.id,
        "login": record.login,
        "name": record.display_name,
        "email": record.email,
        "phone": record.phone,
        "admin": record.is_admin,
        "active": record.active,
        "external_ref": record.external_ref,
        "created_at": instant(record.created_at, tz),
        "version": _version(record),
    }


def company(record: Company, tz: tzinfo | None = None) -> JsonDict:
    """A company (``owner``: a login)."""
    return {
        "id": record.id,
        "name": record.name,
        "status": _code(record.status),
        "owner": record.owner.login if record.owner else None,
        "external_ref": record.external_ref,
        "created_at": instant(record.created_at, tz),
        "updated_at": instant(record.updated_at, tz),
        "version": _version(record),
    }


def contact(record: Contact, tz: tzinfo | None = None) -> JsonDict:
    """A contact (``name``: first and last name; ``title``: the job title)."""
    return {
        "id": record.id,
        "company_id": record.company_id,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "name": record.full_name,
        "email": record.email,
        "phone": record.phone,
        "title": record.job_title,
        "external_ref": record.external_ref,
        "version": _version(record),
    }


def opportunity(record: Opportunity, tz: tzinfo | None = None) -> JsonDict:
    """An opportunity (``company``: ``{id, name}``; ``amount``: a canonical decimal string)."""
    return {
        "id": record.id,
        "company": {"id": record.company.id, "name": record.company.name},
        "title": record.title,
        "stage": record.stage.code,
        "closed": record.stage.is_closed,
        "amount": decimal(record.amount),
        "expected_close": _day(record.expected_close),
        "owner": record.owner.login if record.owner else None,
        "external_ref": record.external_ref,
        "created_at": instant(record.created_at, tz),
        "updated_at": instant(record.updated_at, tz),
        "version": _version(record),
    }


# -- catalogue -------------------------------------------------------------------------------


def picklist_value(record: PicklistValue, tz: tzinfo | None = None) -> JsonDict:
    """A picklist value (``kind``: the picklist; ``closed``: it closes what it is set on)."""
    return {
        "kind": _code(record.kind),
        "code": record.code,
        "label_fr": record.label_fr,
        "label_en": record.label_en,
        "position": record.position,
        "closed": record.is_closed,
        "active": record.active,
    }


def category(record: Category, tz: tzinfo | None = None) -> JsonDict:
    """A category (``parent``: its parent's code)."""
    return {
        "code": record.code,
        "label_fr": record.label_fr,
        "label_en": record.label_en,
        "parent": record.parent.code if record.parent else None,
        "active": record.active,
    }


def field(record: CustomField, tz: tzinfo | None = None) -> JsonDict:
    """A custom field definition."""
    return {
        "code": record.code,
        "label": record.label,
        "type": _code(record.type),
        "required": record.required,
        "choices": list(record.choices) if record.choices else None,
        "active": record.active,
    }


# -- exchanges, history entries, search hits -------------------------------------------------


def exchange(record: Exchange, tz: tzinfo | None = None) -> JsonDict:
    """An exchange with everything linked to it (``author``: ``{id, name, login}``)."""
    linked = record.company
    author = record.author
    return {
        "id": record.id,
        "uuid": str(record.uuid),
        "subject": record.subject,
        "details": record.details,
        "start": instant(record.start_at, tz),
        "end": instant(record.end_at, tz),
        "action": record.action.code,
        "status": record.status.code,
        "closed": record.status.is_closed,
        "medium": record.medium.code if record.medium else None,
        "category": record.category.code if record.category else None,
        "private": record.private,
        "company": {"id": linked.id, "name": linked.name} if linked else None,
        "opportunities": [{"id": o.id, "title": o.title} for o in record.opportunities],
        "contacts": [{"id": c.id, "name": c.full_name} for c in record.contacts],
        "author": {"id": author.id, "name": author.display_name, "login": author.login},
        "assignees": [u.login for u in record.assignees],
        "custom": {code: custom_value(v, tz) for code, v in sorted(record.custom.items())},
        "created_at": instant(record.created_at, tz),
        "updated_at": instant(record.updated_at, tz),
        "version": _version(record),
    }


#: The names of an exchange that a history or search entry carries (the rest needs the
#: full record: ``grc exchange show`` / ``GET /exchanges/{id}``).
ENTRY_FIELDS = (
    "id",
    "uuid",
    "subject",
    "details",
    "start",
    "end",
    "action",
    "status",
    "medium",
    "category",
    "private",
    "company",
    "author",
    "assignees",
)


def entry(row: TimelineEntry, tz: tzinfo | None = None) -> JsonDict:
    """An exchange as a history lists it: a subset of :func:`exchange` (``author`` without
    its login)."""
    return entry_with(
        row, uuid=str(row.uuid), start=instant(row.start_at, tz), end=instant(row.end_at, tz)
    )


def entry_with(row: TimelineEntry, *, uuid: object, start: object, end: object) -> JsonDict:
    """:func:`entry`'s fields, its identifier and dates as given: written as text by
    :func:`entry`, left as values for a renderer that writes them itself
    (:meth:`grc_api.schemas.EntryOut.wire`)."""
    linked = (
        {"id": row.company_id, "name": row.company or ""} if row.company_id is not None else None
    )
    return {
        "id": row.id,
        "uuid": uuid,
        "subject": row.subject,
        "details": row.details,
        "start": start,
        "end": end,
        "action": row.action,
        "status": row.status,
        "medium": row.medium,
        "category": row.category,
        "private": row.private,
        "company": linked,
        "author": {"id": row.author_id, "name": row.author},
        "assignees": list(row.assignees),
    }


def search_hit(hit: SearchHit, tz: tzinfo | None = None) -> JsonDict:
    """A search hit: the entry, its ``rank`` (1.0 for a match in the subject or the names,
    0.5 elsewhere; see :func:`grc_core.queries.search.search`) and a ``snippet`` with the
    matched words between ``[`` and ``]``."""
    return {**entry(hit.entry, tz), "rank": hit.rank, "snippet": hit.snippet}


# -- attachments -----------------------------------------------------------------------------


def attachment(record: Attachment, tz: tzinfo | None = None) -> JsonDict:
    """An attachment (``name``: the file name as given; ``owner``: ``{kind, id}`` of the
    record it is attached to).  The storage key stays out: it is the backend's business."""
    kind, ident = record.owner
    author = record.author
    return {
        "id": record.id,
        "uuid": str(record.uuid),
        "name": record.filename,
        "extension": record.extension,
        "mime_type": record.mime_type,
        "size": record.size,
        "sha256": record.sha256,
        "backend": record.backend,
        "owner": {"kind": kind, "id": ident},
        "author": {"id": author.id, "name": author.display_name, "login": author.login},
        "created_at": instant(record.created_at, tz),
    }


# -- notifications ---------------------------------------------------------------------------


def follows(record: Subscription) -> str:
    """What a subscription follows, in words: ``company 1: ACME``."""
    session = object_session(record)
    kind, ident = record.target_kind, record.target_id
    if session is None:  # pragma: no cover - records always come from a session
        return f"{kind} {ident}"
    if kind == TargetKind.COMPANY.value:
        found = session.get(Company, ident)
        return f"company {ident}: {found.name if found else '(deleted)'}"
    if kind == TargetKind.OPPORTUNITY.value:
        deal = session.get(Opportunity, ident)
        if deal is None:
            return f"opportunity {ident}: (deleted)"
        return f"opportunity {ident}: {deal.title} ({deal.company.name})"
    cat = session.get(Category, ident)
    return f"category {cat.code if cat else ident}"


def subscription(record: Subscription, tz: tzinfo | None = None) -> JsonDict:
    """A subscription: ``target`` ``{kind, id}``, ``follows`` the target in words;
    ``event_kinds`` ``null`` means every kind, ``channels`` ``null`` the user's preferred
    channels."""
    return {
        "id": record.id,
        "target": {"kind": _code(record.target_kind), "id": record.target_id},
        "follows": follows(record),
        "event_kinds": list(record.event_kinds) if record.event_kinds else None,
        "channels": list(record.channels) if record.channels else None,
        "narrow": bool(record.narrow),
        "created_at": instant(record.created_at, tz),
    }


def preferences(record: Preferences, tz: tzinfo | None = None) -> JsonDict:
    """Notification preferences: ``channels`` per event kind (``*`` the default one),
    ``default_channels`` what applies when no kind is named, ``quiet_hours``
    ``{start, end}`` (``HH:MM`` in the user's zone) or ``null``."""
    channels = {kind: list(names) for kind, names in sorted((record.channels or {}).items())}
    quiet = None
    if record.quiet_start is not None and record.quiet_end is not None:
        quiet = {"start": _clock(record.quiet_start), "end": _clock(record.quiet_end)}
    return {
        "channels": channels,
        "default_channels": list(channels.get("*") or DEFAULT_CHANNELS),
        "quiet_hours": quiet,
        "timezone": record.timezone,
        "digest": _code(record.digest),
    }


def _logins(record: object, ids: Sequence[int]) -> dict[int, str]:
    session = object_session(record)
    if not ids or session is None:
        return {}
    rows = session.execute(select(User.id, User.login).where(User.id.in_(list(ids))))
    return {ident: login for ident, login in rows}


def rule(
    record: Rule,
    triggers: Sequence[str],
    tz: tzinfo | None = None,
    *,
    logins: Mapping[int, str] | None = None,
) -> JsonDict:
    """A notification rule: ``recipients`` names users by login and says which other
    groups (``subscribers``, ``assignees``…) receive it; ``parked_at`` is set when the
    safety limit stopped a runaway rule.

    :param logins: user logins by id, when the caller already has them (otherwise they are
        read through the rule's session).
    """
    spec = dict(record.recipients or {})
    ids = [int(i) for i in spec.get("users") or []]
    names = logins if logins is not None else _logins(record, ids)
    recipients: JsonDict = {
        "users": [names.get(i, f"#{i}") for i in ids],
        **{flag: bool(spec.get(flag)) for flag in RECIPIENT_FLAGS},
    }
    return {
        "id": record.id,
        "name": record.name,
        "enabled": record.enabled,
        "escalation": record.escalation,
        "triggers": list(triggers),
        "condition": record.condition,
        "recipients": recipients,
        "channels": list(record.channels or DEFAULT_CHANNELS),
        "subject_template": record.subject_template,
        "body_template": record.body_template,
        "created_at": instant(record.created_at, tz),
        "parked_at": instant(record.parked_at, tz),
        "parked_reason": record.parked_reason,
    }


def inbox_item(item: InboxEntry, tz: tzinfo | None = None) -> JsonDict:
    """An on-screen alert (``about``: the ids of what it is about)."""
    return {
        "id": item.id,
        "title": item.title,
        "body": item.body,
        "about": dict(item.about),
        "created_at": instant(item.created_at, tz),
        "read_at": instant(item.read_at, tz),
        "unread": item.unread,
    }


# -- tokens ----------------------------------------------------------------------------------


def token(record: ApiToken, state: str, tz: tzinfo | None = None) -> JsonDict:
    """An API token, never its secret (``user``: its owner's login; ``state``: active,
    expired or revoked)."""
    session = object_session(record)
    owner = session.get(User, record.user_id) if session is not None else None
    return {
        "id": record.id,
        "user_id": record.user_id,
        "user": owner.login if owner is not None else None,
        "name": record.name,
        "prefix": record.prefix,
        "state": state,
        "created_at": instant(record.created_at, tz),
        "expires_at": instant(record.expires_at, tz),
        "revoked_at": instant(record.revoked_at, tz),
        "last_used_at": instant(record.last_used_at, tz),
    }
