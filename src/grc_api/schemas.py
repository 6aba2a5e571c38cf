"""One representation per resource (pydantic v2): what the API reads and writes.

Names follow the command line's ``--json`` output; a list entry (a history or search row)
is a documented subset of the full resource, with the same names.  Date-times are ISO 8601
in UTC; decimal amounts are strings without trailing zeros (``"150012"``, ``"12.5"``) so that
no client rounds them through a float; picklists and categories are given by code.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from grc_core.models import (
    ApiToken,
    Attachment,
    Category,
    Company,
    Contact,
    CustomField,
    Event,
    Exchange,
    Opportunity,
    PicklistValue,
    Preferences,
    Rule,
    Subscription,
    User,
)
from grc_core.notify.inbox import InboxEntry
from grc_core.queries.history import TimelineEntry
from grc_core.queries.search import SearchHit


class Out(BaseModel):
    """Base of every representation sent."""

    model_config = ConfigDict(from_attributes=False)


class In(BaseModel):
    """Base of every body received: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def _decimal(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f")


def _version(record: object) -> int | None:
    return getattr(record, "version", None)


# -- references ------------------------------------------------------------------------------


class Ref(Out):
    """Another record, named: ``{id, name}``."""

    id: int
    name: str


class PersonRef(Out):
    """A user, named: ``{id, name, login}`` (``login`` is absent from list entries)."""

    id: int
    name: str
    login: str | None = None


class TitleRef(Out):
    """An opportunity, named by its title."""

    id: int
    title: str


# -- users -----------------------------------------------------------------------------------


class UserOut(Out):
    id: int
    login: str
    name: str
    email: str | None
    phone: str | None
    admin: bool
    active: bool
    external_ref: str | None
    created_at: datetime
    version: int | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            login=user.login,
            name=user.display_name,
            email=user.email,
            phone=user.phone,
            admin=user.is_admin,
            active=user.active,
            external_ref=user.external_ref,
            created_at=user.created_at,
            version=_version(user),
        )


class UserCreate(In):
    login: str = Field(max_length=64)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    admin: bool = False
    external_ref: str | None = Field(default=None, max_length=200)


class UserUpdate(In):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    admin: bool | None = None
    active: bool | None = None
    external_ref: str | None = Field(default=None, max_length=200)


# -- companies, contacts, opportunities ------------------------------------------------------


class CompanyOut(Out):
    id: int
    name: str
    status: str
    owner: str | None
    external_ref: str | None
    created_at: datetime
    updated_at: datetime
    version: int | None = None

    @classmethod
    def of(cls, company: Company) -> CompanyOut:
        return cls(
            id=company.id,
            name=company.name,
            status=str(company.status.value),
            owner=company.owner.login if company.owner else None,
            external_ref=company.external_ref,
            created_at=company.created_at,
            updated_at=company.updated_at,
            version=_version(company),
        )


class CompanyCreate(In):
    name: str = Field(max_length=200)
    status: str = "prospect"
    owner: str | None = Field(default=None, description="login of the owner")
    external_ref: str | None = Field(default=None, max_length=200)


class CompanyUpdate(In):
    name: str | None = Field(default=None, max_length=200)
    status: str | None = None
    owner: str | None = None
    external_ref: str | None = Field(default=None, max_length=200)


class ContactOut(Out):
    id: int
    company_id: int
    first_name: str
    last_name: str
    name: str
    email: str | None
    phone: str | None
    title: str | None
    external_ref: str | None
    version: int | None = None

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.id,
            company_id=contact.company_id,
            first_name=contact.first_name,
            last_name=contact.last_name,
            name=contact.full_name,
            email=contact.email,
            phone=contact.phone,
            title=contact.job_title,
            external_ref=contact.external_ref,
            version=_version(contact),
        )


class ContactCreate(In):
    last_name: str = Field(max_length=100)
    first_name: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=200)
    external_ref: str | None = Field(default=None, max_length=200)


class Move(In):
    company_id: int = Field(description="the company to move the record to")


class OpportunityOut(Out):
    id: int
    company: Ref
    title: str
    stage: str
    closed: bool
    amount: str | None = Field(description="decimal, as a string without trailing zeros")
    expected_close: date | None
    owner: str | None
    external_ref: str | None
    created_at: datetime
    updated_at: datetime
    version: int | None = None

    @classmethod
    def of(cls, opportunity: Opportunity) -> OpportunityOut:
        return cls(
            id=opportunity.id,
            company=Ref(id=opportunity.company.id, name=opportunity.company.name),
            title=opportunity.title,
            stage=opportunity.stage.code,
            closed=opportunity.stage.is_closed,
            amount=_decimal(opportunity.amount),
            expected_close=opportunity.expected_close,
            owner=opportunity.owner.login if opportunity.owner else None,
            external_ref=opportunity.external_ref,
            created_at=opportunity.created_at,
            updated_at=opportunity.updated_at,
            version=_version(opportunity),
        )


class OpportunityCreate(In):
    title: str = Field(max_length=200)
    stage: str = "prospecting"
    amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=6)
    expected_close: date | None = None
    owner: str | None = None
    external_ref: str | None = Field(default=None, max_length=200)


class OpportunityUpdate(In):
    title: str | None = Field(default=None, max_length=200)
    stage: str | None = None
    amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=6)
    expected_close: date | None = None
    owner: str | None = None
    external_ref: str | None = Field(default=None, max_length=200)


# -- exchanges -------------------------------------------------------------------------------

CustomValue = str | int | float | bool | None


def _custom(values: dict[str, Any]) -> dict[str, CustomValue]:
    out: dict[str, CustomValue] = {}
    for code, value in sorted(values.items()):
        if isinstance(value, Decimal):
            out[code] = _decimal(value)
        elif isinstance(value, date | datetime):
            out[code] = value.isoformat()
        else:
            out[code] = value
    return out


class ExchangeOut(Out):
    id: int
    uuid: UUID
    subject: str
    details: str
    start: datetime
    end: datetime
    action: str
    status: str
    closed: bool
    medium: str | None
    category: str | None
    private: bool
    company: Ref | None
    opportunities: list[TitleRef]
    contacts: list[Ref]
    author: PersonRef
    assignees: list[str] = Field(description="logins")
    custom: dict[str, CustomValue]
    created_at: datetime
    updated_at: datetime
    version: int | None = None

    @classmethod
    def of(cls, exchange: Exchange) -> ExchangeOut:
        company = exchange.company
        author = exchange.author
        return cls(
            id=exchange.id,
            uuid=exchange.uuid,
            subject=exchange.subject,
            details=exchange.details,
            start=exchange.start_at,
            end=exchange.end_at,
            action=exchange.action.code,
            status=exchange.status.code,
            closed=exchange.status.is_closed,
            medium=exchange.medium.code if exchange.medium else None,
            category=exchange.category.code if exchange.category else None,
            private=exchange.private,
            company=Ref(id=company.id, name=company.name) if company else None,
            opportunities=[TitleRef(id=o.id, title=o.title) for o in exchange.opportunities],
            contacts=[Ref(id=c.id, name=c.full_name) for c in exchange.contacts],
            author=PersonRef(id=author.id, name=author.display_name, login=author.login),
            assignees=[u.login for u in exchange.assignees],
            custom=_custom(dict(exchange.custom)),
            created_at=exchange.created_at,
            updated_at=exchange.updated_at,
            version=_version(exchange),
        )


class ExchangeCreate(In):
    uuid: UUID | None = Field(
        default=None, description="chosen by the client: repeating the request is harmless"
    )
    subject: str = Field(max_length=500)
    details: str = Field(default="", max_length=100_000)
    start: datetime
    end: datetime | None = None
    action: str
    status: str = "planned"
    medium: str | None = None
    category: str | None = None
    private: bool = False
    company_id: int | None = None
    opportunity_ids: list[int] = Field(default_factory=list, max_length=100)
    contact_ids: list[int] = Field(default_factory=list, max_length=100)
    assignees: list[str] | None = Field(default=None, max_length=100, description="logins")
    custom: dict[str, CustomValue] = Field(default_factory=dict)


class ExchangeUpdate(In):
    """Only the fields present change; ``null`` clears an optional one."""

    subject: str | None = Field(default=None, max_length=500)
    details: str | None = Field(default=None, max_length=100_000)
    start: datetime | None = None
    end: datetime | None = None
    action: str | None = None
    status: str | None = None
    medium: str | None = None
    category: str | None = None
    private: bool | None = None
    company_id: int | None = None
    opportunity_ids: list[int] | None = Field(default=None, max_length=100)
    contact_ids: list[int] | None = Field(default=None, max_length=100)
    assignees: list[str] | None = Field(default=None, max_length=100)
    custom: dict[str, CustomValue] | None = None


class Completion(In):
    status: str = "done"
    details: str | None = Field(default=None, max_length=100_000)


class EntryOut(Out):
    """An exchange as a history or a search shows it (a subset of :class:`ExchangeOut`)."""

    id: int
    uuid: UUID
    subject: str
    details: str
    start: datetime
    end: datetime
    action: str
    status: str
    medium: str | None
    category: str | None
    private: bool
    company: Ref | None
    author: PersonRef
    assignees: list[str]

    @classmethod
    def of(cls, entry: TimelineEntry) -> EntryOut:
        return cls(
            id=entry.id,
            uuid=entry.uuid,
            subject=entry.subject,
            details=entry.details,
            start=entry.start_at,
            end=entry.end_at,
            action=entry.action,
            status=entry.status,
            medium=entry.medium,
            category=entry.category,
            private=entry.private,
            company=Ref(id=entry.company_id, name=entry.company or "")
            if entry.company_id is not None
            else None,
            author=PersonRef(id=entry.author_id, name=entry.author),
            assignees=list(entry.assignees),
        )


class HistoryPage(Out):
    items: list[EntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
    next: str | None = Field(description="the next page's URL, or null on the last page")


class SearchHitOut(EntryOut):
    rank: float
    snippet: str = Field(description="an extract with the matched words between [ and ]")

    @classmethod
    def of_hit(cls, hit: SearchHit) -> SearchHitOut:
        base = EntryOut.of(hit.entry).model_dump()
        return cls(**base, rank=hit.rank, snippet=hit.snippet)


class SearchResults(Out):
    items: list[SearchHitOut]


# -- catalogue -------------------------------------------------------------------------------


class PicklistValueOut(Out):
    kind: str
    code: str
    label_fr: str
    label_en: str | None
    position: int
    closed: bool
    active: bool

    @classmethod
    def of(cls, value: PicklistValue) -> PicklistValueOut:
        return cls(
            kind=str(getattr(value.kind, "value", value.kind)),
            code=value.code,
            label_fr=value.label_fr,
            label_en=value.label_en,
            position=value.position,
            closed=value.is_closed,
            active=value.active,
        )


class PicklistValueCreate(In):
    code: str = Field(max_length=64)
    label_fr: str = Field(max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    closed: bool = False


class Activation(In):
    active: bool


class CategoryOut(Out):
    code: str
    label_fr: str
    label_en: str | None
    parent: str | None
    active: bool

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls(
            code=category.code,
            label_fr=category.label_fr,
            label_en=category.label_en,
            parent=category.parent.code if category.parent else None,
            active=category.active,
        )


class CategoryCreate(In):
    code: str = Field(max_length=64)
    label_fr: str = Field(max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    parent: str | None = None


class FieldOut(Out):
    code: str
    label: str
    type: str
    required: bool
    choices: list[str] | None
    active: bool

    @classmethod
    def of(cls, field: CustomField) -> FieldOut:
        return cls(
            code=field.code,
            label=field.label,
            type=str(getattr(field.type, "value", field.type)),
            required=field.required,
            choices=list(field.choices) if field.choices else None,
            active=field.active,
        )


class FieldCreate(In):
    code: str = Field(max_length=64)
    label: str = Field(max_length=200)
    type: Literal["text", "integer", "decimal", "date", "boolean", "choice"]
    required: bool = False
    choices: list[str] | None = Field(default=None, max_length=200)


# -- attachments -----------------------------------------------------------------------------


class AttachmentOut(Out):
    id: int
    filename: str
    extension: str
    mime_type: str
    size: int
    sha256: str
    owner: Literal["exchange", "company", "opportunity"]
    owner_id: int
    author_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentOut:
        kind, ident = attachment.owner
        return cls(
            id=attachment.id,
            filename=attachment.filename,
            extension=attachment.extension,
            mime_type=attachment.mime_type,
            size=attachment.size,
            sha256=attachment.sha256,
            owner=kind,
            owner_id=ident,
            author_id=attachment.author_id,
            created_at=attachment.created_at,
        )


# -- notifications ---------------------------------------------------------------------------


class SubscriptionOut(Out):
    """``event_kinds`` null: every kind; ``channels`` null: the user's preferred channels."""

    id: int
    target_kind: Literal["company", "opportunity", "category"]
    target_id: int
    event_kinds: list[str] | None
    channels: list[str] | None
    narrow: bool
    created_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            id=sub.id,
            target_kind=sub.target_kind,  # type: ignore[arg-type]
            target_id=sub.target_id,
            event_kinds=list(sub.event_kinds) if sub.event_kinds else None,
            channels=list(sub.channels) if sub.channels else None,
            narrow=bool(sub.narrow),
            created_at=sub.created_at,
        )


class SubscriptionCreate(In):
    company_id: int | None = None
    opportunity_id: int | None = None
    category: str | None = None
    event_kinds: list[str] | None = Field(default=None, max_length=50)
    channels: list[str] | None = Field(default=None, max_length=20)
    narrow: bool = False


class PreferencesOut(Out):
    channels: dict[str, list[str]]
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    digest: str

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        return cls(
            channels={k: list(v) for k, v in (prefs.channels or {}).items()},
            quiet_start=prefs.quiet_start,
            quiet_end=prefs.quiet_end,
            timezone=prefs.timezone,
            digest=str(getattr(prefs.digest, "value", prefs.digest)),
        )


class PreferencesUpdate(In):
    channels: dict[str, list[str]] | None = None
    quiet_hours: tuple[time, time] | None = Field(
        default=None, description="[start, end] in the user's zone"
    )
    clear_quiet_hours: bool = False
    timezone: str | None = Field(default=None, max_length=64)
    digest: Literal["immediate", "hourly", "daily"] | None = None


class InboxItemOut(Out):
    id: int
    title: str
    body: str
    about: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, entry: InboxEntry) -> InboxItemOut:
        return cls(
            id=entry.id,
            title=entry.title,
            body=entry.body,
            about=entry.about,
            created_at=entry.created_at,
            read_at=entry.read_at,
        )


class InboxPage(Out):
    items: list[InboxItemOut]
    next: str | None


class UnreadCount(Out):
    unread: int


class MarkRead(In):
    ids: list[int] | Literal["all"] = Field(description='item ids, or "all"')


class Marked(Out):
    marked: int


class RuleOut(Out):
    id: int
    name: str
    enabled: bool
    escalation: bool
    triggers: list[str]
    condition: str
    recipients: dict[str, Any]
    channels: list[str]
    subject_template: str
    body_template: str
    created_at: datetime

    @classmethod
    def of(cls, rule: Rule, triggers: list[str]) -> RuleOut:
        return cls(
            id=rule.id,
            name=rule.name,
            enabled=rule.enabled,
            escalation=rule.escalation,
            triggers=triggers,
            condition=rule.condition,
            recipients=dict(rule.recipients or {}),
            channels=list(rule.channels or []),
            subject_template=rule.subject_template,
            body_template=rule.body_template,
            created_at=rule.created_at,
        )


class RuleCreate(In):
    name: str = Field(max_length=100)
    triggers: list[str] = Field(default_factory=list, max_length=50)
    condition: str = Field(default="", max_length=10_000)
    recipients: dict[str, Any]
    channels: list[str] = Field(default_factory=lambda: ["inbox"], max_length=20)
    subject_template: str = Field(default="", max_length=10_000)
    body_template: str = Field(default="", max_length=100_000)
    escalation: bool = False


class DryRunIn(In):
    event_id: int


class DryRunOut(Out):
    fires: bool
    reasons: list[str]
    recipients: list[str]
    subject: str
    body: str


# -- audit, tokens, storage, service ---------------------------------------------------------


class EventOut(Out):
    id: int
    occurred_at: datetime
    actor: str | None
    kind: str
    entity_type: str
    entity_id: int
    company_id: int | None
    changes: dict[str, Any]

    @classmethod
    def of(cls, event: Event, actor: str | None) -> EventOut:
        return cls(
            id=event.id,
            occurred_at=event.occurred_at,
            actor=actor,
            kind=event.kind,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            company_id=event.company_id,
            changes=dict(event.changes or {}),
        )


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None
    next: str | None


class TokenOut(Out):
    id: int
    user_id: int
    name: str
    prefix: str
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to within ten minutes")

    @classmethod
    def of(cls, token: ApiToken, state: str) -> TokenOut:
        return cls(
            id=token.id,
            user_id=token.user_id,
            name=token.name,
            prefix=token.prefix,
            state=state,  # type: ignore[arg-type]
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class ProblemOut(Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(Out):
    status: Literal["ok"]


class Ready(Out):
    status: Literal["ready"]
    revision: str
