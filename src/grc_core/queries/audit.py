"""Reading the audit trail: who changed what, when, with the old and new values.

Every change is an :class:`~grc_core.models.Event` written in the transaction of the change
itself (see :mod:`grc_core.services.events`).  :func:`audit_events` reads them a page at a
time, filtered by record, company, actor, kind and date, with signed keyset cursors
(:mod:`grc_core.queries.cursors`): page N costs what page 1 costs, and a cursor cannot be
forged nor replayed on another query or by another user.

**What a reader may see.**  Administrators see every event, whole.  Ordinary users:

* never see the events only administrators may read
  (:data:`~grc_core.models.event.ADMIN_ONLY_KINDS`: users, the attachment policy,
  notification rules, bulk imports);
* see every event about companies, contacts, opportunities and the shared configuration
  (picklists, categories, custom fields), which every user may read anyway;
* see an event about an exchange (or an attachment of one) only if they could see the
  exchange right after the event, judged on the audience the event carries — never on the
  record that has its id now (:func:`grc_core.visibility.can_see_audience`); and its old
  values only if they could also see the exchange *before* the event
  (:func:`grc_core.visibility.may_read_old_values`).  A private exchange later shared: no
  event from while it was private, and the event that shared it with its new values only
  (:attr:`AuditEntry.old_values_withheld`).  An event whose audience is unknown is
  withheld (fail closed).

**Reading the trail as a feed.**  ``oldest_first=True`` reads forward from a cursor;
:attr:`AuditPage.resume_cursor` is where to continue later, even when the page is empty.
This is the durable way to observe events (a process that stops resumes where it was),
unlike the in-process :func:`~grc_core.plugins.hookspecs.grc_event_committed` hook.
Transactions commit in any order while ids are given in flush order, so an event with a
smaller id may become visible after one with a larger id: pass ``settle`` (e.g. one
minute, longer than your longest transaction) to read only events that old.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from grc_core.errors import NotFound, PermissionDenied, ValidationError
from grc_core.models import Event, EventKind, User
from grc_core.models.event import ADMIN_ONLY_KINDS
from grc_core.queries import cursors
from grc_core.timeutil import require_aware, utcnow
from grc_core.visibility import can_see_audience, may_read_old_values

MAX_PAGE = 200
#: An ordinary reader's page looks at most this many events per returned row before it
#: stops with a cursor (a long run of events they may not see must not make a page slow).
SCAN_FACTOR = 20

#: The record types events are about, as ``entity_type`` names them.
ENTITY_TYPES = (
    "exchange",
    "attachment",
    "company",
    "contact",
    "opportunity",
    "picklist_value",
    "category",
    "custom_field",
    "user",
    "rule",
    "attachment_policy",
)

_actor = aliased(User, name="actor")


@dataclass(frozen=True)
class AuditFilter:
    """What to read from the trail; every criterion given must hold.

    :param entity_type: events about this kind of record (see :data:`ENTITY_TYPES`).
    :param entity_id: about this record (needs ``entity_type``).
    :param company_id: events scoped to this company (its own, its contacts',
        opportunities' and exchanges').
    :param actor_id: changes made by this user.
    :param kinds: of these kinds (``"company.updated"``…, see
        :class:`~grc_core.models.EventKind`).
    :param since: at or after this time (timezone-aware).
    :param until: before this time (timezone-aware).
    """

    entity_type: str | None = None
    entity_id: int | None = None
    company_id: int | None = None
    actor_id: int | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def checked(self) -> AuditFilter:
        """The filter with its values validated and normalised (kinds sorted, UTC times)."""
        if self.entity_type is not None and self.entity_type not in ENTITY_TYPES:
            raise ValidationError(
                f"unknown record type {self.entity_type!r}; accepted: {', '.join(ENTITY_TYPES)}",
                field="entity_type",
            )
        if self.entity_id is not None and self.entity_type is None:
            raise ValidationError("a record id needs its record type", field="entity_id")
        known = {k.value for k in EventKind}
        kinds = tuple(sorted({str(k) for k in self.kinds}))
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise ValidationError(
                f"unknown event kind(s) {', '.join(unknown)}; accepted: {', '.join(sorted(known))}",
                field="kinds",
            )
        since = require_aware(self.since, "since") if self.since is not None else None
        until = require_aware(self.until, "until") if self.until is not None else None
        if since is not None and until is not None and until <= since:
            raise ValidationError("'until' must come after 'since'", field="until")
        return AuditFilter(
            self.entity_type, self.entity_id, self.company_id, self.actor_id, kinds, since, until
        )


@dataclass(frozen=True)
class AuditEntry:
    """One change as a reader may see it.

    ``changes`` maps each changed field to ``[old, new]`` (JSON values; ids for users,
    companies and the like).  When the reader could not see the record before this change,
    every old value is ``None`` and :attr:`old_values_withheld` is true.
    """

    id: int
    occurred_at: datetime
    kind: str
    entity_type: str
    entity_id: int
    company_id: int | None
    actor_id: int | None
    actor: str | None
    changes: dict[str, Any]
    old_values_withheld: bool = False


@dataclass(frozen=True)
class AuditPage:
    """A page of the trail.

    :param next_cursor: continues with the next page; ``None`` when there is none now.
    :param resume_cursor: with ``oldest_first``, where to read from later to get the
        events recorded after this page (set even on an empty page); ``None`` otherwise.
    """

    entries: list[AuditEntry]
    next_cursor: str | None = None
    resume_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def exchange_of(event: Event) -> int | None:
    """The id of the exchange an event is about: its own record, or the exchange an
    attachment was added to or removed from; ``None`` when it is about no exchange."""
    if event.entity_type == "exchange":
        return event.entity_id
    pair = (event.changes or {}).get("exchange_id")
    if isinstance(pair, list) and len(pair) == 2:
        value = pair[1] if pair[1] is not None else pair[0]
        return int(value) if value is not None else None
    return None


def judge(actor: User, event: Event, actor_login: str | None = None) -> AuditEntry | None:
    """The event as ``actor`` may see it, or ``None`` when they may not see it at all."""
    if not actor.active:
        return None
    changes: dict[str, Any] = dict(event.changes or {})
    withheld = False
    if not actor.is_admin:
        if event.kind in ADMIN_ONLY_KINDS:
            return None
        if exchange_of(event) is not None:
            audience = getattr(event, "audience", None)
            if not can_see_audience(actor, audience):
                return None
            if not may_read_old_values(actor, audience, changes):
                withheld = any(_old(pair) is not None for pair in changes.values())
                changes = {k: _without_old(v) for k, v in changes.items()}
    return AuditEntry(
        id=event.id,
        occurred_at=event.occurred_at,
        kind=event.kind,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        company_id=event.company_id,
        actor_id=event.actor_id,
        actor=actor_login,
        changes=changes,
        old_values_withheld=withheld,
    )


def _old(pair: Any) -> Any:
    return pair[0] if isinstance(pair, list) and len(pair) == 2 else None


def _without_old(pair: Any) -> Any:
    return [None, pair[1]] if isinstance(pair, list) and len(pair) == 2 else pair


def _statement(
    flt: AuditFilter, reader: User, oldest_first: bool, settle: timedelta | None
) -> Select[Event, str]:
    stmt = select(Event, _actor.login).outerjoin(_actor, _actor.id == Event.actor_id)
    if not reader.is_admin:
        stmt = stmt.where(Event.kind.not_in(sorted(ADMIN_ONLY_KINDS)))
    if flt.entity_type is not None:
        stmt = stmt.where(Event.entity_type == flt.entity_type)
    if flt.entity_id is not None:
        stmt = stmt.where(Event.entity_id == flt.entity_id)
    if flt.company_id is not None:
        stmt = stmt.where(Event.company_id == flt.company_id)
    if flt.actor_id is not None:
        stmt = stmt.where(Event.actor_id == flt.actor_id)
    if flt.kinds:
        stmt = stmt.where(Event.kind.in_(flt.kinds))
    if flt.since is not None:
        stmt = stmt.where(Event.occurred_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(Event.occurred_at < flt.until)
    if settle is not None:
        stmt = stmt.where(Event.occurred_at <= utcnow() - settle)
    return stmt.order_by(Event.id.asc() if oldest_first else Event.id.desc())


def _page_size(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit}", field="limit")
    return limit


def audit_events(
    session: Session,
    actor: User,
    flt: AuditFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
    oldest_first: bool = False,
    settle: timedelta | None = None,
) -> AuditPage:
    """A page of the audit trail as ``actor`` may see it, newest first (or oldest first).

    :param flt: what to read (default: everything the reader may see).
    :param limit: events per page, 1 to :data:`MAX_PAGE`.  An ordinary reader's page may
        hold fewer and still have a ``next_cursor``: a page stops after looking at
        ``limit × SCAN_FACTOR`` events they may not see.
    :param cursor: the ``next_cursor`` (or ``resume_cursor``) of a previous page of the
        same query, read by the same user.
    :param oldest_first: read forward, as a feed consumer does.
    :param settle: only events at least this old (see the module's notes on ordering).
    :raises PermissionDenied: ``actor`` is deactivated.
    :raises ValidationError: a bad filter or limit; a cursor of another query or
        installation (:class:`~grc_core.queries.cursors.InvalidCursor`).
    """
    if not actor.active:
        raise PermissionDenied(f"user {actor.login!r} is deactivated and cannot read the trail")
    size = _page_size(limit)
    flt = (flt or AuditFilter()).checked()
    if settle is not None and (not isinstance(settle, timedelta) or settle < timedelta(0)):
        raise ValidationError("settle must be a positive duration", field="settle")
    query = cursors.fingerprint("audit", actor.id, actor.is_admin, flt, oldest_first, settle)
    base = _statement(flt, actor, oldest_first, settle)
    after = cursors.decode(session, cursor, query).id if cursor is not None else None

    entries: list[AuditEntry] = []
    budget = size * SCAN_FACTOR
    last_seen: Event | None = None  # the last event looked at, shown or not
    more = exhausted = False
    batch = size + 1
    while not more and budget > 0:
        stmt = base
        if after is not None:
            stmt = stmt.where(Event.id > after if oldest_first else Event.id < after)
        fetch = min(batch, budget)
        rows = session.execute(stmt.limit(fetch)).all()
        for event, login in rows:
            entry = judge(actor, event, login)
            if entry is not None and len(entries) == size:
                more = True  # one more visible event exists: the cursor stays on the last shown
                break
            last_seen, after, budget = event, event.id, budget - 1
            if entry is not None:
                entries.append(entry)
        if not more and len(rows) < fetch:
            exhausted = True
            break
        # What is still missing, at the share of visible events seen so far, plus one to
        # know whether there is more (with nothing visible yet: as many as the budget).
        seen = size * SCAN_FACTOR - budget
        batch = (size - len(entries)) * seen // len(entries) + 2 if entries else budget
    if not more and not exhausted:
        more = True  # the scan budget ran out before the end: go on from the last event seen

    def encode(event_id: int, at: datetime) -> str:
        return cursors.encode(session, cursors.Position(at, event_id), query)

    next_cursor = None
    if more and last_seen is not None:
        next_cursor = encode(last_seen.id, last_seen.occurred_at)
    resume = None
    if oldest_first:
        if last_seen is not None:
            resume = encode(last_seen.id, last_seen.occurred_at)
        else:
            resume = cursor if cursor is not None else None
    return AuditPage(entries, next_cursor, resume)


def get_event(session: Session, actor: User, event_id: int) -> AuditEntry:
    """One event as ``actor`` may see it.

    :raises NotFound: there is no such event, or ``actor`` may not see it.
    """
    row = session.execute(
        select(Event, _actor.login)
        .outerjoin(_actor, _actor.id == Event.actor_id)
        .where(Event.id == event_id)
    ).first()
    entry = judge(actor, row[0], row[1]) if row is not None else None
    if entry is None:
        raise NotFound(f"no audit event {event_id}")
    return entry


def logins(session: Session, ids: Iterable[int | None]) -> Mapping[int, str]:
    """The logins of users named by id in events (``owner_id``, ``author_id``…)."""
    wanted = sorted({int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool)})
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.login).where(User.id.in_(wanted))).all())
