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

import operator
import uuid as uuid_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from grc_core.db_rows import insert_tuples
from grc_core.errors import DatabaseError, ValidationError
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

IMPORT_CACHE_KIB = 256 * 1024
_ACTION, _STATUS, _MEDIUM = (
    k.value for k in (PicklistKind.ACTION, PicklistKind.STATUS, PicklistKind.MEDIUM)
)


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
                session.execute(
                    select(Category.code, Category.id).where(Category.active.is_(True))
                ).all()
            ),
            users=set(session.scalars(select(User.id).where(User.active.is_(True)))),
            companies=dict(session.execute(select(Company.id, Company.name)).all()),
            opportunities=dict(
                session.execute(select(Opportunity.id, Opportunity.company_id)).all()
            ),
            contacts={
                ident: (company, f"{first} {last}".strip())
                for ident, company, first, last in session.execute(
                    select(Contact.id, Contact.company_id, Contact.first_name, Contact.last_name)
                )
            },
        )

    def picklist(self, kind: str, code: str | None, row: int) -> int | None:
        if code is None:
            return None
        ident = self.picklists.get((kind, code))
        if ident is None:
            raise ValidationError(f"row {row}: unknown or retired {kind} {code!r}")
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
    if conn.dialect.name == "sqlite":
        # A large page cache keeps the growing indexes in memory during the import.
        conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        return _import(session, actor, conn, lookups, records, batch_size, progress, report)
    except OperationalError as exc:
        # A lost connection (server restart, pg_terminate_backend) or a lock timeout: the
        # caller's transaction cannot be committed, so nothing of this import is kept.
        raise DatabaseError(
            f"the import stopped after {report.imported} exchanges because the database "
            f"failed ({str(exc.orig).strip()}); the transaction is lost, nothing of this "
            "import is kept: run it again"
        ) from exc


def _import(
    session: Session,
    actor: User,
    conn: Connection,
    lookups: _Lookups,
    records: Iterable[ExchangeRecord],
    batch_size: int,
    progress: Callable[[int], None] | None,
    report: ImportReport,
) -> ImportReport:
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
    # Ids are reserved up front, so the batch is one executemany (RETURNING with a
    # guaranteed order degrades to one statement per row on SQLite).
    ids = _reserve_ids(conn, len(rows))
    for ident, row in zip(ids, rows, strict=True):
        row["id"] = ident
    insert_rows(conn, Exchange.__table__, rows)
    assignees: list[tuple[int, int]] = []
    opportunities: list[tuple[int, int]] = []
    contacts: list[tuple[int, int]] = []
    for ident, rec, row, (users, opps, cons) in zip(ids, batch, rows, links, strict=True):
        assignees += [(ident, u) for u in users]
        opportunities += [(ident, o) for o in opps]
        contacts += [(ident, c) for c in cons]
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
                company_ids=companies,
                opportunity_ids=opps,
                user_ids={rec.author_id, *users},
            )
        )
    for link, other, values in (
        (exchange_assignees, "user_id", assignees),
        (exchange_opportunities, "opportunity_id", opportunities),
        (exchange_contacts, "contact_id", contacts),
    ):
        insert_tuples(conn, link, ("exchange_id", other), values, convert=False)
    write_entries(conn, entries, fresh=True)
    return ids


def _reserve_ids(conn: Connection, count: int) -> list[int]:
    if conn.dialect.name == "postgresql":
        stmt = text(
            "SELECT nextval(pg_get_serial_sequence('exchanges', 'id')) FROM generate_series(1, :n)"
        )
        return list(conn.execute(stmt, {"n": count}).scalars())
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), nobody else inserts.
    # The table is AUTOINCREMENT: ids above the largest row that were deleted are recorded in
    # sqlite_sequence and must not be handed out again (events and alerts still name them).
    top = conn.execute(select(func.max(Exchange.id))).scalar() or 0
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'exchanges'").scalar()
    top = max(top, seq or 0)
    return list(range(top + 1, top + 1 + count))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT of dictionaries (all with the same keys)."""
    if rows:
        names = list(rows[0])
        getter = operator.itemgetter(*names)
        values = [getter(r) for r in rows] if len(names) > 1 else [(getter(r),) for r in rows]
        insert_tuples(conn, table, names, values)


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
        "action_id": lookups.picklist(_ACTION, rec.action, n),
        "status_id": lookups.picklist(_STATUS, rec.status, n),
        "medium_id": lookups.picklist(_MEDIUM, rec.medium, n),
        "category_id": category,
        "subject": clean_line(rec.subject, f"row {n}: subject", SUBJECT_MAX),
        "details": clean_text(rec.details, f"row {n}: details", DETAILS_MAX),
        "private": bool(rec.private),
        "author_id": rec.author_id,
        "company_id": rec.company_id,
        "created_at": rec.created_at or now,
        "updated_at": rec.created_at or now,
        # The first version, as the ORM would write it (optimistic concurrency).
        "version": 1,
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
