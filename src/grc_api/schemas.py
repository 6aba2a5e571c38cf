"""One representation per resource (pydantic v2): what the API reads and writes.

Every output model is built from :mod:`grc_core.representation`, the same dicts the command
line's ``--json`` prints, so both speak the same names and types; the models here only
describe and check them (and give the OpenAPI document its schemas).  A list entry (a
history or search row) is a documented subset of the full resource, with the same names.
Date-times are ISO 8601 in UTC; decimal amounts are strings without trailing zeros
(``"150012"``, ``"12.5"``) so that no client rounds them through a float; picklists and
categories are given by code.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from grc_core import representation
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


class Stamped(Out):
    """The bookkeeping of a record: when it was created and last changed, and its version
    (the ``ETag``)."""

    created_at: datetime
    updated_at: datetime
    version: int | None = None


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
        return cls.model_validate(representation.user(user))


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


class CompanyOut(Stamped):
    id: int
    name: str
    status: str
    owner: str | None = Field(description="login")
    external_ref: str | None

    @classmethod
    def of(cls, company: Company) -> CompanyOut:
        return cls.model_validate(representation.company(company))


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
        return cls.model_validate(representation.contact(contact))


class ContactCreate(In):
    last_name: str = Field(max_length=100)
    first_name: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=200)
    external_ref: str | None = Field(default=None, max_length=200)


class Move(In):
    company_id: int = Field(description="the company to move the record to")


class OpportunityOut(Stamped):
    id: int
    company: Ref
    title: str
    stage: str
    closed: bool
    amount: str | None = Field(description="decimal, as a string without trailing zeros")
    expected_close: date | None
    owner: str | None = Field(description="login")
    external_ref: str | None

    @classmethod
    def of(cls, opportunity: Opportunity) -> OpportunityOut:
        return cls.model_validate(representation.opportunity(opportunity))


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


class EntryOut(Out):
    """An exchange as a history or a search lists it: the subset of :class:`ExchangeOut`
    that a list needs (``author`` without its login)."""

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
    assignees: list[str] = Field(description="logins")

    @classmethod
    def of(cls, entry: TimelineEntry) -> EntryOut:
        return cls.model_validate(representation.entry(entry))

    @classmethod
    def wire(cls, entry: TimelineEntry) -> dict[str, Any]:
        """The data of ``cls.of(entry).model_dump(mode="json")``, built directly, for
        :func:`grc_api.rendering.dumps`: its identifier and dates are left as
        :class:`~uuid.UUID` and :class:`~datetime.datetime` (in UTC), which the renderer
        writes in C as pydantic writes them.

        A history page lists up to 200 entries: validating each representation again (the
        library built it from checked columns), serialising it through the model, or even
        formatting its dates and identifier in Python costs more than the page's query (a
        50-entry page: about 280 µs with the values formatted here, 90 µs left to the
        renderer).  The routes send this data while still declaring :class:`HistoryPage`
        as their response model (the OpenAPI document is unchanged); tests check that the
        bytes are the model's and that pages validate against the published schema.
        """
        data = representation.entry_with(
            entry, uuid=entry.uuid, start=entry.start_at, end=entry.end_at
        )
        data["author"]["login"] = None  # PersonRef's optional login, absent from entries
        return data


class ExchangeOut(EntryOut):
    """An exchange with everything linked to it."""

    closed: bool
    opportunities: list[TitleRef]
    contacts: list[Ref]
    custom: dict[str, CustomValue] = Field(
        description="custom field values by code (decimals as strings, dates in ISO 8601)"
    )
    created_at: datetime
    updated_at: datetime
    version: int | None = None

    @classmethod
    def of(cls, exchange: Exchange) -> ExchangeOut:  # type: ignore[override]
        return cls.model_validate(representation.exchange(exchange))


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


class HistoryPage(Out):
    items: list[EntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
    next: str | None = Field(description="the next page's URL, or null on the last page")


class SearchHitOut(EntryOut):
    rank: float = Field(
        description="1.0 when every word is in the subject, the company's or a contact's name, "
        "0.5 when found elsewhere; hits come by rank, then most recent first"
    )
    snippet: str = Field(description="an extract with the matched words between [ and ]")

    @classmethod
    def of_hit(cls, hit: SearchHit) -> SearchHitOut:
        return cls.model_validate(representation.search_hit(hit))


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
        return cls.model_validate(representation.picklist_value(value))


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
        return cls.model_validate(representation.category(category))


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
        return cls.model_validate(representation.field(field))


class FieldCreate(In):
    code: str = Field(max_length=64)
    label: str = Field(max_length=200)
    type: Literal["text", "integer", "decimal", "date", "boolean", "choice"]
    required: bool = False
    choices: list[str] | None = Field(default=None, max_length=200)


# -- attachments -----------------------------------------------------------------------------


class OwnerRef(Out):
    """The record an attachment is attached to."""

    kind: Literal["exchange", "company", "opportunity"]
    id: int


class AttachmentOut(Out):
    """An attachment (``name``: the file name as given; the storage key stays out)."""

    id: int
    uuid: UUID
    name: str
    extension: str
    mime_type: str = Field(description="sniffed from the content")
    size: int = Field(description="bytes")
    sha256: str
    backend: str = Field(description="the storage backend that holds the content")
    owner: OwnerRef
    author: PersonRef
    created_at: datetime

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentOut:
        return cls.model_validate(representation.attachment(attachment))


# -- notifications ---------------------------------------------------------------------------


class TargetRef(Out):
    """What a subscription follows."""

    kind: Literal["company", "opportunity", "category"]
    id: int


class SubscriptionOut(Out):
    """``event_kinds`` null: every kind; ``channels`` null: the user's preferred channels."""

    id: int
    target: TargetRef
    follows: str = Field(description="the target in words, e.g. 'company 1: ACME'")
    event_kinds: list[str] | None
    channels: list[str] | None
    narrow: bool
    created_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls.model_validate(representation.subscription(sub))


class SubscriptionCreate(In):
    company_id: int | None = None
    opportunity_id: int | None = None
    category: str | None = None
    event_kinds: list[str] | None = Field(default=None, max_length=50)
    channels: list[str] | None = Field(default=None, max_length=20)
    narrow: bool = False


class QuietHours(Out):
    """A daily span without notifications, in the user's zone (it may cross midnight)."""

    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM")
    end: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM")


class PreferencesOut(Out):
    channels: dict[str, list[str]] = Field(description='channels per event kind, "*" the default')
    default_channels: list[str] = Field(description="the channels used when no kind is named")
    quiet_hours: QuietHours | None
    timezone: str
    digest: str

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        return cls.model_validate(representation.preferences(prefs))


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
    unread: bool

    @classmethod
    def of(cls, entry: InboxEntry) -> InboxItemOut:
        return cls.model_validate(representation.inbox_item(entry))


class InboxPage(Out):
    items: list[InboxItemOut]
    next: str | None


class UnreadCount(Out):
    unread: int


class MarkRead(In):
    ids: list[int] | Literal["all"] = Field(description='item ids, or "all"')


class Marked(Out):
    marked: int


class RecipientsOut(Out):
    """Who receives what a rule sends: named users (logins) and groups."""

    users: list[str] = Field(description="logins")
    subscribers: bool
    assignees: bool
    author: bool
    company_owner: bool
    opportunity_owner: bool


class RuleOut(Out):
    id: int
    name: str
    enabled: bool
    escalation: bool
    triggers: list[str]
    condition: str
    recipients: RecipientsOut
    channels: list[str]
    subject_template: str
    body_template: str
    created_at: datetime
    parked_at: datetime | None = Field(description="set when the safety limit parked the rule")
    parked_reason: str | None

    @classmethod
    def of(cls, rule: Rule, triggers: list[str]) -> RuleOut:
        return cls.model_validate(representation.rule(rule, triggers))


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
    user: str | None = Field(description="its owner's login")
    name: str
    prefix: str
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to within ten minutes")

    @classmethod
    def of(cls, token: ApiToken, state: str) -> TokenOut:
        return cls.model_validate(representation.token(token, state))


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
