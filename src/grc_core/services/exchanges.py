"""Exchanges: create (idempotently), read, update, complete and delete, with audit events."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload, make_transient_to_detached

from grc_core.driver_statements import DriverWrite
from grc_core.errors import (
    Conflict,
    ExchangeNotFound,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from grc_core.indexing import index_exchange, unindex_exchange
from grc_core.loaded_rows import read_as_loaded
from grc_core.models import (
    Attachment,
    Company,
    Contact,
    EventKind,
    Exchange,
    ExchangeFieldValue,
    Opportunity,
    PicklistKind,
    User,
)
from grc_core.models.exchange import (
    SUBJECT_MAX,
    exchange_assignees,
    exchange_contacts,
    exchange_opportunities,
)
from grc_core.services import categories, custom_fields, picklists
from grc_core.services.companies import get_company
from grc_core.services.concurrency import check_version, fresh, lock_rows, stale_as_conflict
from grc_core.services.events import diff, json_safe, record_event, write_event
from grc_core.services.text import clean_line, clean_text
from grc_core.services.users import UserRef, get_user, require_active
from grc_core.timeutil import require_aware, utcnow
from grc_core.visibility import audience_of, can_modify, visible_exchanges

if TYPE_CHECKING:
    from grc_core.backends import Backends

DETAILS_MAX = 100_000
DEFAULT_STATUS = "planned"
DONE_STATUS = "done"

#: Marks an argument of :func:`update_exchange` that was not given.
UNSET: Any = object()
#: The value columns of a custom value row (one holds the value, the others are null).
_VALUE_COLUMNS = ("text_value", "int_value", "decimal_value", "date_value", "bool_value")

# The creation's statements, built once (their values are parameters): a statement used
# again keeps its cache key, which one built on every call computes every time.
_EXCHANGES = cast(Table, Exchange.__table__)
#: Every column but the id given (see :func:`_insert`), run on the driver's cursor.
_INSERT_EXCHANGE = DriverWrite(
    insert(_EXCHANGES).returning(_EXCHANGES.c.id),
    column_keys=[c.key for c in _EXCHANGES.columns if c.key != "id"],
)
#: The link tables' inserts, a single link (the usual assignee) run on the driver's cursor.
_INSERT_LINKS = {
    link.name: DriverWrite(insert(link), column_keys=("exchange_id", other))
    for link, other in (
        (exchange_assignees, "user_id"),
        (exchange_opportunities, "opportunity_id"),
        (exchange_contacts, "contact_id"),
    )
}
_REQUIRED_FIELDS = custom_fields.required_count()


def snapshot(exchange: Exchange) -> dict[str, Any]:
    """The audited fields of an exchange as JSON-safe values.

    Events carry it (whole on creation and deletion, as a diff on update) so that the
    notification pipeline can decide visibility and scope even after the row is gone.
    """
    fields: dict[str, Any] = json_safe(
        {
            "uuid": exchange.uuid,
            "subject": exchange.subject,
            "details": exchange.details,
            "start": exchange.start_at,
            "end": exchange.end_at,
            "action": exchange.action.code,
            "status": exchange.status.code,
            "medium": exchange.medium.code if exchange.medium else None,
            "category": exchange.category.code if exchange.category else None,
            "private": exchange.private,
            "author_id": exchange.author_id,
            "company_id": exchange.company_id,
            "assignee_ids": sorted(u.id for u in exchange.assignees),
            "opportunity_ids": sorted(o.id for o in exchange.opportunities),
            "contact_ids": sorted(c.id for c in exchange.contacts),
            "custom": dict(sorted(exchange.custom.items())),
        }
    )
    return fields


def get_exchange(session: Session, actor: User, ref: int | uuid_module.UUID | str) -> Exchange:
    """The exchange with this id or UUID, if ``actor`` may see it.

    A private exchange the actor may not see is reported as not found, so that its existence
    does not leak.
    """
    return _fetch(session, actor, ref)


def _fetch(
    session: Session, actor: User, ref: int | uuid_module.UUID | str, *, refresh: bool = False
) -> Exchange:
    stmt = select(Exchange).where(visible_exchanges(actor))
    if refresh:
        stmt = fresh(stmt)
    if isinstance(ref, int) and not isinstance(ref, bool):
        stmt = stmt.where(Exchange.id == ref)
    else:
        try:
            key = ref if isinstance(ref, uuid_module.UUID) else uuid_module.UUID(str(ref))
        except ValueError:
            raise ExchangeNotFound(f"{ref!r} is neither an exchange id nor a UUID") from None
        stmt = stmt.where(Exchange.uuid == key)
    exchange = session.scalar(stmt)
    if exchange is None:
        raise ExchangeNotFound(f"no exchange {ref} visible to {actor.login!r}")
    return exchange


def _period(start: datetime, end: datetime | None) -> tuple[datetime, datetime]:
    start_utc = require_aware(start, "start")
    end_utc = start_utc if end is None else require_aware(end, "end")
    if end_utc < start_utc:
        raise ValidationError(
            f"end ({end_utc.isoformat()}) is before start ({start_utc.isoformat()})", field="end"
        )
    return start_utc, end_utc


def _assignees(session: Session, refs: Sequence[UserRef]) -> list[User]:
    users: dict[int, User] = {}
    for ref in refs:
        user = get_user(session, ref)
        if not user.active:
            raise ValidationError(f"user {user.login!r} is deactivated and cannot be assigned")
        users[user.id] = user
    if not users:
        raise ValidationError("an exchange needs at least one assigned user", field="assignees")
    return list(users.values())


def _links(
    session: Session,
    company_id: int | None,
    opportunity_ids: Sequence[int],
    contact_ids: Sequence[int],
) -> tuple[list[Opportunity], list[Contact]]:
    """Load the linked records and check that they belong to the exchange's company."""
    opportunities = [
        _load(session, Opportunity, i, "opportunity") for i in dict.fromkeys(opportunity_ids)
    ]
    contacts = [_load(session, Contact, i, "contact") for i in dict.fromkeys(contact_ids)]
    if company_id is None and (opportunities or contacts):
        raise ValidationError(
            "a global exchange (no company) cannot be linked to opportunities or contacts",
            field="company",
        )
    for record in [*opportunities, *contacts]:
        if record.company_id != company_id:
            kind = type(record).__name__.lower()
            raise ValidationError(
                f"{kind} {record.id} belongs to company {record.company_id}, "
                f"not to the exchange's company {company_id}",
                field=f"{kind}s",
            )
    return opportunities, contacts


def _load(session: Session, model: type, ident: int, label: str) -> Any:
    record = session.get(model, ident)
    if record is None:
        raise ValidationError(f"no {label} {ident}", field=f"{label}s")
    return record


def create_exchange(
    session: Session,
    actor: User,
    *,
    subject: str,
    start: datetime,
    end: datetime | None = None,
    action: str,
    status: str = DEFAULT_STATUS,
    medium: str | None = None,
    category: str | None = None,
    details: str = "",
    company_id: int | None = None,
    opportunity_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
    assignees: Sequence[UserRef] | None = None,
    private: bool = False,
    custom: Mapping[str, Any] | None = None,
    uuid: uuid_module.UUID | str | None = None,
    system: bool = False,
    origin: Mapping[str, Any] | None = None,
) -> Exchange:
    """Record an exchange authored by ``actor`` and write its creation event.

    ``system=True`` marks a record the system makes on someone's behalf (a notification
    task): nobody could fill the required custom fields an administrator added, so they are
    not required of it (values given are still checked).  ``origin`` records its provenance
    (``Exchange.origin``).

    ``assignees`` defaults to the author.  ``uuid``, chosen by the client, makes the call
    idempotent: repeating it returns the exchange created the first time, with no second
    event; a UUID already used by another author is a :class:`Conflict`.
    """
    require_active(actor)
    # A UUID made here is new: only a client's may name an exchange already recorded.
    key = _uuid(uuid) if uuid is not None else uuid_module.uuid4()
    existing = _by_uuid(session, key) if uuid is not None else None
    if existing is not None:
        return _replayed(existing, actor)

    start_utc, end_utc = _period(start, end)
    company = _company(session, company_id) if company_id is not None else None
    opportunities, contacts = _links(session, company_id, opportunity_ids, contact_ids)
    wanted = {PicklistKind.ACTION: action, PicklistKind.STATUS: status}
    if medium:
        wanted[PicklistKind.MEDIUM] = medium
    # The required custom fields are counted in the same round trip: none (the usual case)
    # means their codes need not be read at all.
    chosen, required = picklists.resolve_many_for_write(session, wanted, alongside=_REQUIRED_FIELDS)
    exchange = Exchange(
        uuid=key,
        subject=clean_line(subject, "subject", SUBJECT_MAX),
        details=clean_text(details, "details", DETAILS_MAX),
        start_at=start_utc,
        end_at=end_utc,
        action=chosen[PicklistKind.ACTION],
        status=chosen[PicklistKind.STATUS],
        medium=chosen.get(PicklistKind.MEDIUM),
        category=categories.resolve_for_write(session, category) if category else None,
        private=bool(private),
        author_id=actor.id,
        author=actor,
        company_id=company_id,
        # The relationships the index, the event and the response read, given as loaded
        # and in the order a load gives them (the relationships' order_by): the answer to a
        # creation lists them as a later read does.
        company=company,
        assignees=sorted(
            _assignees(session, [actor] if assignees is None else assignees),
            key=lambda u: u.login,
        ),
        opportunities=sorted(opportunities, key=lambda o: o.id),
        contacts=sorted(contacts, key=lambda c: c.id),
        field_values=[],
        origin=dict(origin) if origin is not None else None,
    )
    values = custom_fields.validate_values(
        session, custom or {}, creating=not system, required=[] if required == 0 else None
    )
    custom_fields.apply_values(exchange, values)

    # A concurrent retry with the same UUID may win the race between our check and our
    # insert; the savepoint lets us fall back to its row without losing the transaction.
    # A UUID made here races with nobody: no savepoint (two round trips) for it.
    if uuid is None:
        _insert(session, exchange)
    else:
        try:
            with session.begin_nested():
                _insert(session, exchange)
        except IntegrityError:
            winner = _by_uuid(session, key)
            if winner is None:
                raise
            return _replayed(winner, actor)
    index_exchange(session, exchange, fresh=True)
    created = snapshot(exchange)
    # An INSERT, not an ORM object: nothing is left for a flush to write.
    write_event(
        session,
        actor,
        EventKind.EXCHANGE_CREATED,
        entity_type="exchange",
        entity_id=exchange.id,
        company_id=exchange.company_id,
        changes={k: [None, v] for k, v in created.items()},
        audience=audience_of(exchange),
    )
    return exchange


def _insert(session: Session, exchange: Exchange) -> None:
    """Write a new exchange, its links and its custom values, and attach it to ``session``.

    The rows go in as plain INSERTs, the same the unit of work would send: its flush (change
    tracking, dependency sort, the session's flush hooks) was a third of a creation's CPU.
    The object then joins the session as if loaded from those rows, its relationships as
    given: later changes are tracked and versioned as for any loaded exchange.
    """
    connection = session.connection()
    table = _EXCHANGES
    now = utcnow()
    exchange.created_at = exchange.updated_at = now
    exchange.version = 1
    # The keys the flush would have copied from the relationships.
    exchange.action_id = exchange.action.id
    exchange.status_id = exchange.status.id
    exchange.medium_id = exchange.medium.id if exchange.medium is not None else None
    exchange.category_id = exchange.category.id if exchange.category is not None else None
    # Every column set, None included: one left unset would be read back when first used.
    row = {c.key: getattr(exchange, c.key) for c in table.columns if c.key != "id"}
    for name, value in row.items():
        setattr(exchange, name, value)
    # Values as parameters, as the flush sends them: ``.values(row)`` would build a bound
    # parameter per column on every call.
    exchange.id = _INSERT_EXCHANGE.execute(connection, row)[0][0]
    for link, column, records in (
        (exchange_assignees, "user_id", exchange.assignees),
        (exchange_opportunities, "opportunity_id", exchange.opportunities),
        (exchange_contacts, "contact_id", exchange.contacts),
    ):
        _INSERT_LINKS[link.name].execute_each(
            connection, [{"exchange_id": exchange.id, column: r.id} for r in records]
        )
    if exchange.field_values:
        value_table = cast(Table, ExchangeFieldValue.__table__)
        for value in exchange.field_values:
            value.exchange_id = exchange.id
            for name in _VALUE_COLUMNS:
                setattr(value, name, getattr(value, name))
        rows = [
            {c.key: getattr(v, c.key) for c in value_table.columns} for v in exchange.field_values
        ]
        connection.execute(insert(value_table), rows)
        for value in exchange.field_values:
            make_transient_to_detached(value)
    make_transient_to_detached(exchange)
    session.add(exchange)


#: Built once: a loader option is several objects to make on every creation otherwise.
_NO_OWNER = (lazyload(Company.owner),)


def _company(session: Session, company_id: int) -> Company:
    """The new exchange's company, without its owner: nothing a creation writes or answers
    reads the owner, whose join ``get_company`` would add (a fifth of the look-up's CPU).

    One the session does not hold yet is read with a plain SELECT of its row and joins the
    session as if loaded (as a new exchange does): the ORM's load by primary key cost about
    half as much again.  One the session holds is its own (expired or deleted included).
    """
    company = read_as_loaded(session, Company, company_id, options=_NO_OWNER)
    if company is None:
        raise NotFound(f"no company {company_id}")
    return company


def _uuid(value: uuid_module.UUID | str) -> uuid_module.UUID:
    if isinstance(value, uuid_module.UUID):
        return value
    try:
        return uuid_module.UUID(str(value))
    except ValueError:
        raise ValidationError(f"{value!r} is not a UUID", field="uuid") from None


def _by_uuid(session: Session, key: uuid_module.UUID) -> Exchange | None:
    # The id first: loading an exchange joins its six lookups, which PostgreSQL takes longer
    # to plan than to run, and a new exchange (nearly every call) has no row to load.
    ident = session.scalar(select(Exchange.id).where(Exchange.uuid == key))
    return None if ident is None else session.get(Exchange, ident)


def _replayed(existing: Exchange, actor: User) -> Exchange:
    if existing.author_id != actor.id:
        raise Conflict(f"UUID {existing.uuid} is already used by another exchange")
    return existing


def _modifiable(
    session: Session,
    actor: User,
    ref: int | uuid_module.UUID | str,
    expected_version: int | None = None,
) -> Exchange:
    """The exchange ``actor`` may change, locked until the transaction ends.

    It is read once the lock is granted: concurrent changes queue behind each other and
    each one starts from what the previous one committed (its audit event's old values are
    the previous event's new values), and a stale ``expected_version`` is refused before
    anything changes.  Visibility is judged on that fresh copy too.
    """
    require_active(actor)
    ident = _id_of(session, ref)
    if ident is not None:
        lock_rows(session, Exchange, [ident])
    exchange = _fetch(session, actor, ref, refresh=True)
    if not can_modify(actor, exchange):
        raise PermissionDenied(
            f"only the author, the assigned users or an administrator may change exchange "
            f"{exchange.id}"
        )
    check_version(exchange, expected_version, f"exchange {exchange.id}")
    return exchange


def _id_of(session: Session, ref: int | uuid_module.UUID | str) -> int | None:
    """The id ``ref`` designates, if any (no visibility check: only used to lock the row)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    try:
        key = ref if isinstance(ref, uuid_module.UUID) else uuid_module.UUID(str(ref))
    except ValueError:
        return None
    return session.scalar(select(Exchange.id).where(Exchange.uuid == key))


def update_exchange(
    session: Session,
    actor: User,
    ref: int | uuid_module.UUID | str,
    *,
    subject: str = UNSET,
    details: str = UNSET,
    start: datetime = UNSET,
    end: datetime = UNSET,
    action: str = UNSET,
    status: str = UNSET,
    medium: str | None = UNSET,
    category: str | None = UNSET,
    company_id: int | None = UNSET,
    opportunity_ids: Sequence[int] = UNSET,
    contact_ids: Sequence[int] = UNSET,
    assignees: Sequence[UserRef] = UNSET,
    private: bool = UNSET,
    custom: Mapping[str, Any] = UNSET,
    expected_version: int | None = None,
) -> Exchange:
    """Change the given fields and write one event with every changed field.

    Arguments left out are unchanged; ``None`` clears an optional one.  Moving the status to
    a closing value (done, cancelled…) records a *completed* event instead of *updated*.
    Changing the company requires links that belong to the new one.

    ``expected_version`` is the ``version`` the caller read: if the exchange has changed
    since, nothing is written and :class:`~grc_core.errors.VersionConflict` is raised.
    Without it, concurrent updates are applied one after the other (row lock), each on the
    state the previous one left.  A change increments ``version``.
    """
    exchange = _modifiable(session, actor, ref, expected_version)
    # One UPDATE per call (one version step): no query in between flushes half a change.
    with stale_as_conflict(exchange, f"exchange {exchange.id}"), session.no_autoflush:
        return _update_locked(
            session,
            actor,
            exchange,
            subject=subject,
            details=details,
            start=start,
            end=end,
            action=action,
            status=status,
            medium=medium,
            category=category,
            company_id=company_id,
            opportunity_ids=opportunity_ids,
            contact_ids=contact_ids,
            assignees=assignees,
            private=private,
            custom=custom,
        )


def _update_locked(
    session: Session,
    actor: User,
    exchange: Exchange,
    *,
    subject: str = UNSET,
    details: str = UNSET,
    start: datetime = UNSET,
    end: datetime = UNSET,
    action: str = UNSET,
    status: str = UNSET,
    medium: str | None = UNSET,
    category: str | None = UNSET,
    company_id: int | None = UNSET,
    opportunity_ids: Sequence[int] = UNSET,
    contact_ids: Sequence[int] = UNSET,
    assignees: Sequence[UserRef] = UNSET,
    private: bool = UNSET,
    custom: Mapping[str, Any] = UNSET,
) -> Exchange:
    before = snapshot(exchange)

    if subject is not UNSET:
        exchange.subject = clean_line(subject, "subject", SUBJECT_MAX)
    if details is not UNSET:
        exchange.details = clean_text(details, "details", DETAILS_MAX)
    if start is not UNSET or end is not UNSET:
        new_start = exchange.start_at if start is UNSET else start
        new_end = exchange.end_at if end is UNSET else end
        exchange.start_at, exchange.end_at = _period(new_start, new_end)
    for kind, value in ((PicklistKind.ACTION, action), (PicklistKind.STATUS, status)):
        if value is not UNSET:
            current = getattr(exchange, kind.value)
            setattr(
                exchange, kind.value, picklists.resolve_for_write(session, kind, value, current)
            )
    if medium is not UNSET:
        exchange.medium = (
            picklists.resolve_for_write(session, PicklistKind.MEDIUM, medium, exchange.medium)
            if medium
            else None
        )
    if category is not UNSET:
        exchange.category = (
            categories.resolve_for_write(session, category, exchange.category) if category else None
        )
    if private is not UNSET:
        exchange.private = bool(private)
    if assignees is not UNSET:
        exchange.assignees = _assignees(session, assignees)
    if company_id is not UNSET or opportunity_ids is not UNSET or contact_ids is not UNSET:
        new_company = exchange.company_id if company_id is UNSET else company_id
        if new_company is not None and company_id is not UNSET:
            get_company(session, new_company)
        opps, contacts = _links(
            session,
            new_company,
            [o.id for o in exchange.opportunities] if opportunity_ids is UNSET else opportunity_ids,
            [c.id for c in exchange.contacts] if contact_ids is UNSET else contact_ids,
        )
        exchange.company_id = new_company
        exchange.company = get_company(session, new_company) if new_company is not None else None
        exchange.opportunities, exchange.contacts = opps, contacts
    if custom is not UNSET:
        custom_fields.apply_values(
            exchange, custom_fields.validate_values(session, custom, creating=False)
        )

    changes = diff(before, snapshot(exchange))
    if not changes:
        return exchange
    exchange.updated_at = utcnow()
    session.flush()
    index_exchange(session, exchange)
    completed = "status" in changes and exchange.status.is_closed
    record_event(
        session,
        actor,
        EventKind.EXCHANGE_COMPLETED if completed else EventKind.EXCHANGE_UPDATED,
        entity_type="exchange",
        entity_id=exchange.id,
        company_id=exchange.company_id,
        changes=changes,
        audience=audience_of(exchange),
    )
    session.flush()
    return exchange


def complete_exchange(
    session: Session,
    actor: User,
    ref: int | uuid_module.UUID | str,
    *,
    status: str = DONE_STATUS,
    details: str = UNSET,
    expected_version: int | None = None,
) -> Exchange:
    """Close an exchange (status ``done`` unless another closing status is given).

    ``expected_version`` works as in :func:`update_exchange`.
    """
    value = picklists.get_value(session, PicklistKind.STATUS, status)
    if not value.is_closed:
        closing = [
            v.code for v in picklists.list_values(session, PicklistKind.STATUS) if v.is_closed
        ]
        raise ValidationError(
            f"status {status!r} does not close an exchange; accepted: {', '.join(closing)}",
            field="status",
        )
    exchange = _modifiable(session, actor, ref, expected_version)
    if exchange.status.id == value.id:
        return exchange
    return update_exchange(
        session,
        actor,
        exchange.id,
        status=status,
        details=details,
        expected_version=expected_version,
    )


def delete_exchange(
    session: Session,
    actor: User,
    ref: int | uuid_module.UUID | str,
    *,
    backends: Backends | None = None,
    expected_version: int | None = None,
) -> None:
    """Delete an exchange and its attachments.

    ``expected_version`` works as in :func:`update_exchange`.

    The deletion event keeps a full snapshot of what the exchange was.  The attachments'
    blobs are deleted once the transaction commits when ``backends`` is given, otherwise by
    the next ``grc storage verify --repair``.
    """
    from grc_core.services import attachments  # attachments builds on this module

    exchange = _modifiable(session, actor, ref, expected_version)
    before = snapshot(exchange)
    attachments.remove_rows(
        session,
        backends,
        session.scalars(select(Attachment).where(Attachment.exchange_id == exchange.id)),
    )
    record_event(
        session,
        actor,
        EventKind.EXCHANGE_DELETED,
        entity_type="exchange",
        entity_id=exchange.id,
        company_id=exchange.company_id,
        changes={k: [v, None] for k, v in before.items()},
        audience=audience_of(exchange),
    )
    unindex_exchange(session, exchange.id)
    with stale_as_conflict(exchange, f"exchange {exchange.id}"):
        session.delete(exchange)
        session.flush()
