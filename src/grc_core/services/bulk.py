"""Bulk import of exchanges: historical data from another CRM, at tens of thousands a second.

The rules are the same as :func:`grc_core.services.exchanges.create_exchange` (dates,
subject, picklists, links belonging to the company, at least one assignee) but checked
against lookup tables loaded once, and rows are written with multi-row INSERTs together
with their timeline and full-text index rows.  Each batch writes one ``exchange.imported``
event (count and id range) rather than one event per exchange: a migration of years of
history must not look like a flood of new exchanges to the notification pipeline.
Custom-field values are not imported by this path.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from grc_core.errors import ValidationError
from grc_core.indexing import IndexEntry, write_entries
from grc_core.models import (
    Category,
    Company,
    Contact,
    EventKind,
    Exchange,
    Opportunity,
    PicklistKind,
    PicklistValue,
    User,
    exchange_assignees,
    exchange_contacts,
    exchange_opportunities,
)
from grc_core.models.exchange import SUBJECT_MAX
from grc_core.services.events import record_event
from grc_core.services.exchanges import DETAILS_MAX
from grc_core.services.text import clean_line, clean_text
from grc_core.services.users import require_admin
from grc_core.timeutil import require_aware, utcnow


@dataclass
class ExchangeRecord:
    """One exchange to import; picklists and category by code, the rest by id."""

    subject: str
    start: datetime
    action: str
    author_id: int
    end: datetime | None = None
    status: str = "done"
    medium: str | None = None
    category: str | None = None
    details: str = ""
    company_id: int | None = None
    opportunity_ids: Sequence[int] = ()
    contact_ids: Sequence[int] = ()
    assignee_ids: Sequence[int] | None = None
    private: bool = False
    uuid: uuid_module.UUID | None = None
    created_at: datetime | None = None


@dataclass
class _Lookups:
    picklists: dict[tuple[str, str], int]
    categories: dict[str, int]
    users: set[int]
    companies: dict[int, str]
    opportunities: dict[int, int]
    contacts: dict[int, tuple[int, str]]

    @classmethod
    def load(cls, session: Session) -> _Lookups:
        return cls(
            picklists={
                (kind.value, code): ident
                for ident, kind, code in session.execute(
                    select(PicklistValue.id, PicklistValue.kind, PicklistValue.code).where(
                        PicklistValue.active.is_(True)
                    )
                )
            },
            categories=dict(
                session.execute(select(Category.code, Category.id).where(Category.active.is_(True)))
                .tuples()
                .all()
            ),
            users=set(session.scalars(select(User.id).where(User.active.is_(True)))),
            companies=dict(session.execute(select(Company.id, Company.name)).tuples().all()),
            opportunities=dict(
                session.execute(select(Opportunity.id, Opportunity.company_id)).tuples().all()
            ),
            contacts={
                ident: (company, f"{first} {last}".strip())
                for ident, company, first, last in session.execute(
                    select(Contact.id, Contact.company_id, Contact.first_name, Contact.last_name)
                )
            },
        )

    def picklist(self, kind: PicklistKind, code: str | None, row: int) -> int | None:
        if code is None:
            return None
        ident = self.picklists.get((kind.value, code))
        if ident is None:
            raise ValidationError(f"row {row}: unknown or retired {kind.value} {code!r}")
        return ident


@dataclass
class ImportReport:
    """What :func:`import_exchanges` wrote."""

    imported: int = 0
    batches: int = 0
    first_id: int | None = None
    last_id: int | None = None
    ids: list[int] = field(default_factory=list, repr=False)


def _batches(records: Iterable[ExchangeRecord], size: int) -> Iterator[list[ExchangeRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def import_exchanges(
    session: Session,
    actor: User,
    records: Iterable[ExchangeRecord],
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check and insert ``records`` in batches, in the caller's transaction.

    A record that breaks a rule raises :class:`ValidationError` naming its row number; the
    caller's transaction then holds the batches before it (roll back to import nothing).

    :param progress: called with the running total after each batch.
    """
    require_admin(actor, "importing exchanges")
    if not 1 <= batch_size <= 50_000:
        raise ValidationError("batch_size must be between 1 and 50000")
    lookups = _Lookups.load(session)
    report = ImportReport()
    conn = session.connection()
    offset = 0
    for batch in _batches(records, batch_size):
        ids = _insert_batch(conn, lookups, batch, offset)
        offset += len(batch)
        report.imported += len(batch)
        report.batches += 1
        report.first_id = report.first_id if report.first_id is not None else ids[0]
        report.last_id = ids[-1]
        report.ids.extend(ids)
        record_event(
            session,
            actor,
            EventKind.EXCHANGES_IMPORTED,
            entity_type="exchange",
            entity_id=ids[0],
            company_id=None,
            changes={"count": [None, len(ids)], "id_range": [None, [ids[0], ids[-1]]]},
        )
        session.flush()
        if progress is not None:
            progress(report.imported)
    return report


def _insert_batch(
    conn: Connection, lookups: _Lookups, batch: list[ExchangeRecord], offset: int
) -> list[int]:
    now = utcnow()
    rows, links, entries = [], [], []
    for n, rec in enumerate(batch, start=offset + 1):
        rows.append(_row(lookups, rec, n, now))
        links.append(_links(lookups, rec, n))
    result = conn.execute(
        insert(Exchange.__table__).returning(Exchange.__table__.c.id, sort_by_parameter_order=True),
        rows,
    )
    ids = [r[0] for r in result]
    assignees, opportunities, contacts = [], [], []
    for ident, rec, row, (users, opps, cons) in zip(ids, batch, rows, links, strict=True):
        assignees += [{"exchange_id": ident, "user_id": u} for u in users]
        opportunities += [{"exchange_id": ident, "opportunity_id": o} for o in opps]
        contacts += [{"exchange_id": ident, "contact_id": c} for c in cons]
        companies = {rec.company_id} if rec.company_id is not None else set()
        companies |= {lookups.opportunities[o] for o in opps}
        companies |= {lookups.contacts[c][0] for c in cons}
        names = [lookups.companies[rec.company_id]] if rec.company_id is not None else []
        names += [lookups.contacts[c][1] for c in cons]
        entries.append(
            IndexEntry(
                id=ident,
                start_at=row["start_at"],
                subject=row["subject"],
                details=row["details"],
                names=" ".join(names),
                company_ids=frozenset(companies),
                opportunity_ids=frozenset(opps),
                user_ids=frozenset({rec.author_id, *users}),
            )
        )
    for table, values in (
        (exchange_assignees, assignees),
        (exchange_opportunities, opportunities),
        (exchange_contacts, contacts),
    ):
        if values:
            conn.execute(insert(table), values)
    write_entries(conn, entries, fresh=True)
    return ids


def _row(lookups: _Lookups, rec: ExchangeRecord, n: int, now: datetime) -> dict[str, object]:
    start = require_aware(rec.start, f"row {n}: start")
    end = start if rec.end is None else require_aware(rec.end, f"row {n}: end")
    if end < start:
        raise ValidationError(f"row {n}: end is before start")
    if rec.author_id not in lookups.users:
        raise ValidationError(f"row {n}: no active user {rec.author_id}")
    if rec.company_id is not None and rec.company_id not in lookups.companies:
        raise ValidationError(f"row {n}: no company {rec.company_id}")
    category = None
    if rec.category is not None:
        category = lookups.categories.get(rec.category)
        if category is None:
            raise ValidationError(f"row {n}: unknown or retired category {rec.category!r}")
    return {
        "uuid": rec.uuid or uuid_module.uuid4(),
        "start_at": start,
        "end_at": end,
        "action_id": lookups.picklist(PicklistKind.ACTION, rec.action, n),
        "status_id": lookups.picklist(PicklistKind.STATUS, rec.status, n),
        "medium_id": lookups.picklist(PicklistKind.MEDIUM, rec.medium, n),
        "category_id": category,
        "subject": clean_line(rec.subject, f"row {n}: subject", SUBJECT_MAX),
        "details": clean_text(rec.details, f"row {n}: details", DETAILS_MAX),
        "private": bool(rec.private),
        "author_id": rec.author_id,
        "company_id": rec.company_id,
        "created_at": rec.created_at or now,
        "updated_at": rec.created_at or now,
    }


def _links(
    lookups: _Lookups, rec: ExchangeRecord, n: int
) -> tuple[list[int], list[int], list[int]]:
    users = list(
        dict.fromkeys(rec.assignee_ids if rec.assignee_ids is not None else [rec.author_id])
    )
    if not users:
        raise ValidationError(f"row {n}: an exchange needs at least one assigned user")
    if any(u not in lookups.users for u in users):
        raise ValidationError(f"row {n}: an assignee is not an active user")
    opps, cons = list(dict.fromkeys(rec.opportunity_ids)), list(dict.fromkeys(rec.contact_ids))
    if rec.company_id is None and (opps or cons):
        raise ValidationError(f"row {n}: a global exchange cannot be linked to records")
    for o in opps:
        if lookups.opportunities.get(o) != rec.company_id:
            raise ValidationError(f"row {n}: opportunity {o} does not belong to the company")
    for c in cons:
        if lookups.contacts.get(c, (None,))[0] != rec.company_id:
            raise ValidationError(f"row {n}: contact {c} does not belong to the company")
    return users, opps, cons
