"""Bulk import of exchanges: historical data from another CRM, thousands a second.

The rules are the same as :func:`grc_core.services.exchanges.create_exchange` (dates,
subject, picklists, links belonging to the company, at least one assignee) but checked
against lookup tables loaded once, and rows are written a table at a time (``COPY`` on
PostgreSQL, one ``executemany`` on SQLite) together with their timeline and full-text index
rows (docs/performance.md, "Import", says what each step costs).  Each batch writes one
``exchange.imported`` event (count and id range) rather than one event per exchange: a
migration of years of history must not look like a flood of new exchanges to the
notification pipeline.
Custom-field values are not imported by this path.
"""

from __future__ import annotations

import gc
import operator
import re
import threading
import unicodedata
import uuid as uuid_module
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import islice
from queue import Empty, Full, Queue
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from grc_core.db_rows import copy_rows, driver_value, insert_tuples
from grc_core.errors import DatabaseError, ValidationError
from grc_core.french_text import index_text
from grc_core.indexing import (
    PG_DOCUMENT,
    TIMELINE_COLUMNS,
    IndexEntry,
    add_search_terms,
)
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
    exchange_timeline,
)
from grc_core.models.exchange import SUBJECT_MAX
from grc_core.services.events import record_event
from grc_core.services.exchanges import DETAILS_MAX
from grc_core.services.text import clean_line, clean_text
from grc_core.services.users import require_admin
from grc_core.timeutil import require_aware, utcnow

IMPORT_CACHE_KIB = 256 * 1024
#: PostgreSQL: check the foreign keys of a batch in one query per parent table instead of
#: a trigger per row, when the role may (see :func:`_keys_checked_by_batch`).
PG_KEYS_CHECKED_BY_BATCH = True
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
    #: The line of the file it was read from: errors then name the line, not the row.
    line: int | None = None


@dataclass
class _Lookups:
    picklists: dict[tuple[str, str], int]
    categories: dict[str, int]
    users: set[int]
    companies: dict[int, str]
    opportunities: dict[int, int]
    contacts: dict[int, tuple[int, str]]
    #: Texts already stemmed for SQLite's full-text index, during this import.
    indexed: dict[str, str] = field(default_factory=dict)
    #: PostgreSQL: foreign keys are checked once a batch, not by a trigger for each row.
    keys_checked_here: bool = False

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

    def picklist(self, kind: str, code: str | None, where: str) -> int | None:
        if code is None:
            return None
        ident = self.picklists.get((kind, code))
        if ident is None:
            raise ValidationError(f"{where}: unknown or retired {kind} {code!r}", field=kind)
        return ident


@dataclass
class ImportReport:
    """What :func:`import_exchanges` wrote."""

    imported: int = 0
    #: Records whose ``uuid`` was already in the database (imported before): not written.
    skipped: int = 0
    batches: int = 0
    first_id: int | None = None
    last_id: int | None = None
    ids: list[int] = field(default_factory=list, repr=False)


#: A batch of records, with the full-text form of their details when it was computed ahead
#: (by the id of the record).
_Batch = tuple[list[ExchangeRecord], dict[int, str]]


def _batches(
    records: Iterable[ExchangeRecord], size: int, *, stem_details: bool = False
) -> Iterator[_Batch]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        stemmed: dict[int, str] = {}
        if stem_details:
            with _STEMMING:
                for rec in batch:
                    if isinstance(rec.details, str):
                        # clean_text gives the NFC form: the index is written from that.
                        stemmed[id(rec)] = index_text(unicodedata.normalize("NFC", rec.details))
        yield batch, stemmed


#: Held while stemming: the French stemmer is one object, with state during each word (the
#: reading thread and the writing thread of an import both stem).
_STEMMING = threading.Lock()


def _ahead(batches: Iterator[_Batch], depth: int = 2) -> Iterator[_Batch]:
    """``batches``, produced by a thread of their own while the caller writes.

    Reading and resolving the next batch (Python) overlaps the database's work on the
    current one (SQLite's C code and the wait for PostgreSQL both release the GIL).  An
    exception of the producer is raised here, in order; leaving the loop stops it.
    """
    done = object()
    queue: Queue[object] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(batch, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    thread = threading.Thread(target=produce, name="grc-import-read", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield cast(_Batch, item)
    finally:
        stop.set()
        while thread.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()


def import_exchanges(
    session: Session,
    actor: User,
    records: Iterable[ExchangeRecord],
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    read_ahead: bool = False,
) -> ImportReport:
    """Check and insert ``records`` in batches, in the caller's transaction.

    A record that breaks a rule raises :class:`ValidationError` naming its row number; the
    caller's transaction then holds the batches before it (roll back to import nothing).

    :param progress: called with the running total after each batch (records read).
    :param read_ahead: iterate ``records`` in a thread of its own, a batch ahead of the
        writes (faster on two cores).  Only for an iterable that touches neither the session
        nor anything else of the calling thread (a file being parsed).
    """
    require_admin(actor, "importing exchanges")
    if not 1 <= batch_size <= 50_000:
        raise ValidationError("batch_size must be between 1 and 50000")
    lookups = _Lookups.load(session)
    report = ImportReport()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        lookups.keys_checked_here = PG_KEYS_CHECKED_BY_BATCH and _may_skip_key_triggers(conn)
    if conn.dialect.name == "sqlite":
        _sqlite_cache(conn)
    # The batches allocate millions of small objects and no cycles: the cyclic collector
    # would walk them over and over (a third of the time of a large import).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(
            session,
            actor,
            conn,
            lookups,
            records,
            batch_size,
            progress,
            report,
            read_ahead,
        )
    except OperationalError as exc:
        # A lost connection (server restart, pg_terminate_backend) or a lock timeout: the
        # caller's transaction cannot be committed, so nothing of this import is kept.
        raise DatabaseError(
            f"the import stopped after {report.imported} exchanges because the database "
            f"failed ({str(exc.orig).strip()}); the transaction is lost, nothing of this "
            "import is kept: run it again"
        ) from exc
    finally:
        if collecting:
            gc.enable()


def _import(
    session: Session,
    actor: User,
    conn: Connection,
    lookups: _Lookups,
    records: Iterable[ExchangeRecord],
    batch_size: int,
    progress: Callable[[int], None] | None,
    report: ImportReport,
    read_ahead: bool,
) -> ImportReport:
    offset = 0
    seen: dict[uuid_module.UUID, str] = {}
    batches = _batches(
        records, batch_size, stem_details=read_ahead and conn.dialect.name == "sqlite"
    )
    source = _ahead(batches) if read_ahead else batches
    try:
        for batch, stemmed in source:
            numbered = [(_where(rec, n), rec) for n, rec in enumerate(batch, start=offset + 1)]
            offset += len(batch)
            fresh = _not_yet_imported(conn, numbered, seen)
            report.skipped += len(batch) - len(fresh)
            if fresh:
                ids = _insert_batch(conn, lookups, fresh, stemmed)
                report.imported += len(ids)
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
                progress(report.imported + report.skipped)
    finally:
        # Stops and joins the reading thread now, not when the traceback is dropped.
        if isinstance(source, Generator):
            source.close()
    return report


def _sqlite_cache(conn: Connection) -> None:
    # A large page cache keeps the growing indexes in memory during the import.
    conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")


def _where(rec: ExchangeRecord, n: int) -> str:
    return f"line {rec.line}" if rec.line is not None else f"row {n}"


def _not_yet_imported(
    conn: Connection,
    numbered: list[tuple[str, ExchangeRecord]],
    seen: dict[uuid_module.UUID, str],
) -> list[tuple[str, ExchangeRecord]]:
    """The records of a batch whose ``uuid`` is not in the database yet.

    Importing the same file again writes nothing twice: the exchanges carry the file's
    UUIDs.  A UUID given twice within one import is refused (two different exchanges, or a
    file concatenated with itself: either way the file needs a look).
    """
    given: list[uuid_module.UUID] = []
    for where, rec in numbered:
        if rec.uuid is None:
            continue
        if not isinstance(rec.uuid, uuid_module.UUID):
            raise _refused(rec, where, "uuid", "uuid must be a UUID")
        if rec.uuid in seen:
            raise _refused(
                rec, where, "uuid", f"uuid {rec.uuid} was already given on {seen[rec.uuid]}"
            )
        seen[rec.uuid] = where
        given.append(rec.uuid)
    if not given:
        return numbered
    existing = set(conn.execute(select(Exchange.uuid).where(Exchange.uuid.in_(given))).scalars())
    if not existing:
        return numbered
    return [(where, rec) for where, rec in numbered if rec.uuid not in existing]


def _refused(rec: ExchangeRecord, where: str, field: str, message: str) -> ValidationError:
    if rec.line is not None:
        return ImportLineError(rec.line, field, message)
    return ValidationError(f"{where}: {message}", field=field)


def _line_error(exc: ValidationError, rec: ExchangeRecord, where: str) -> ValidationError:
    """``exc`` naming the line of the file and the file's field, for a record from a file."""
    if rec.line is None:
        return exc
    field = exc.field or "?"
    message = str(exc).removeprefix(f"{where}: ")
    if field.startswith(f"{where}: "):  # "line 4: subject is required…"
        field = field.removeprefix(f"{where}: ")
        message = message.removeprefix(f"{field} ")
    return ImportLineError(rec.line, field, message)


class RecordChecker:
    """Checks records one at a time as :func:`import_exchanges` would, writing nothing.

    For ``--dry-run`` and reject files: every line is checked, each refusal is reported,
    instead of the first one stopping the import.  A UUID given twice is refused on its
    second line; whether a UUID is already in the database is not checked here (those
    records are skipped by the import, not refused).
    """

    def __init__(self, session: Session) -> None:
        self._lookups = _Lookups.load(session)
        self._seen: dict[uuid_module.UUID, str] = {}
        self._now = utcnow()
        self._count = 0

    def check(self, rec: ExchangeRecord) -> None:
        """Raise the :class:`ValidationError` (an :class:`ImportLineError` for a line of a
        file) that importing ``rec`` would raise."""
        self._count += 1
        where = _where(rec, self._count)
        try:
            if rec.uuid is not None and rec.uuid in self._seen:
                raise ValidationError(
                    f"{where}: uuid {rec.uuid} was already given on {self._seen[rec.uuid]}",
                    field="uuid",
                )
            _row(self._lookups, rec, where, self._now)
            _links(self._lookups, rec, where)
        except ValidationError as exc:
            raise _line_error(exc, rec, where) from None
        if rec.uuid is not None:
            self._seen[rec.uuid] = where


def _insert_batch(
    conn: Connection,
    lookups: _Lookups,
    batch: list[tuple[str, ExchangeRecord]],
    stemmed: dict[int, str],
) -> list[int]:
    now = utcnow()
    rows, links = [], []
    for where, rec in batch:
        try:
            rows.append(_row(lookups, rec, where, now))
            links.append(_links(lookups, rec, where))
        except ValidationError as exc:
            raise _line_error(exc, rec, where) from None
    # Ids are reserved up front, so the batch is one executemany (RETURNING with a
    # guaranteed order degrades to one statement per row on SQLite).
    ids = _reserve_ids(conn, len(rows))
    for ident, row in zip(ids, rows, strict=True):
        row["id"] = ident
    if lookups.keys_checked_here:
        with _keys_checked_by_batch(conn, rows, links):
            _write_batch(conn, lookups, batch, stemmed, ids, rows, links)
    else:
        _write_batch(conn, lookups, batch, stemmed, ids, rows, links)
    return ids


def _write_batch(
    conn: Connection,
    lookups: _Lookups,
    batch: list[tuple[str, ExchangeRecord]],
    stemmed: dict[int, str],
    ids: list[int],
    rows: list[dict[str, object]],
    links: list[tuple[list[int], list[int], list[int]]],
) -> None:
    insert_rows(conn, cast(Table, Exchange.__table__), rows)
    entries: list[IndexEntry] = []
    assignees: list[tuple[int, int]] = []
    opportunities: list[tuple[int, int]] = []
    contacts: list[tuple[int, int]] = []
    for ident, (_, rec), row, (users, opps, cons) in zip(ids, batch, rows, links, strict=True):
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
                start_at=cast(datetime, row["start_at"]),
                subject=cast(str, row["subject"]),
                details=cast(str, row["details"]),
                names=" ".join(names),
                company_ids=companies,
                opportunity_ids=opps,
                user_ids={rec.author_id, *users},
                action_id=cast(int, row["action_id"]),
                status_id=cast(int, row["status_id"]),
                category_id=cast("int | None", row["category_id"]),
            )
        )
    for link, other, values in (
        (exchange_assignees, "user_id", assignees),
        (exchange_opportunities, "opportunity_id", opportunities),
        (exchange_contacts, "contact_id", contacts),
    ):
        insert_tuples(conn, link, ("exchange_id", other), values, convert=False)
    if conn.dialect.name == "postgresql":
        _write_pg_entries(conn, entries)
    else:
        details = [stemmed.get(id(rec)) for _, rec in batch]
        _write_sqlite_entries(conn, entries, details, lookups.indexed)


#: The tables that the rows of a batch refer to, with the columns naming them.
_PARENTS = (
    ("picklist_values", ("action_id", "status_id", "medium_id")),
    ("categories", ("category_id",)),
    ("users", ("author_id",)),
    ("companies", ("company_id",)),
)


@contextmanager
def _keys_checked_by_batch(
    conn: Connection,
    rows: Sequence[Mapping[str, object]],
    links: Sequence[tuple[list[int], list[int], list[int]]],
) -> Iterator[None]:
    """PostgreSQL's foreign-key triggers off while the batch is written, their work done
    once for the whole batch instead.

    Each trigger runs a query per row and per key (six for an exchange, one for each link
    and timeline row): most of the server's time in a ``COPY``.  The references were all
    checked against the tables loaded at the start; here the distinct rows they name are
    locked ``FOR KEY SHARE`` — what the triggers do — so that none can be deleted before
    the commit, and counted, so that one deleted since the start stops the import.  The
    exchange ids of the link, timeline and search rows are those just inserted.  Only for
    a role allowed to set ``session_replication_role`` (see :func:`_may_skip_key_triggers`);
    the setting is local to the transaction and put back after the batch.
    """
    wanted: dict[str, set[int]] = {table: set() for table, _ in _PARENTS}
    for table, columns in _PARENTS:
        found = wanted[table]
        for column in columns:
            found.update(cast(int, r[column]) for r in rows if r[column] is not None)
    wanted["users"].update(u for users, _, _ in links for u in users)
    wanted["opportunities"] = {o for _, opps, _ in links for o in opps}
    wanted["contacts"] = {c for _, _, cons in links for c in cons}
    for table, idents in wanted.items():
        if not idents:
            continue
        locked = conn.exec_driver_sql(
            # The table names are this module's constants; the ids a bound array.
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(%(ids)s) "
            "FOR KEY SHARE) AS parents",
            {"ids": sorted(idents)},
        ).scalar_one()
        if locked != len(idents):
            raise DatabaseError(
                f"rows of {table} named by the import were deleted while it ran: "
                "nothing of this import is kept, run it again"
            )
    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        # After a failed statement the transaction is aborted (and the setting goes with
        # its rollback): only a live transaction gets it back.
        with suppress(DBAPIError):
            conn.exec_driver_sql("SET LOCAL session_replication_role = origin")


def _may_skip_key_triggers(conn: Connection) -> bool:
    """Whether this PostgreSQL role may turn foreign-key triggers off for its transaction
    (a superuser, or one granted ``SET`` on ``session_replication_role``, PostgreSQL 15).

    Otherwise the import keeps them: the same rows, written more slowly.
    """
    return bool(
        conn.exec_driver_sql(
            "SELECT current_setting('session_replication_role') = 'origin' AND ("
            "current_setting('is_superuser') = 'on' OR CASE "
            "WHEN current_setting('server_version_num')::int >= 150000 "
            "THEN has_parameter_privilege('session_replication_role', 'SET') END)"
        ).scalar()
    )


def _write_sqlite_entries(
    conn: Connection,
    entries: Sequence[IndexEntry],
    details: Sequence[str | None],
    indexed: dict[str, str],
) -> None:
    """The index rows of freshly inserted exchanges, on SQLite.

    As :func:`grc_core.indexing.write_entries` (no rows to delete first), with the
    stemmed form of each distinct text computed once per import: company and contact names,
    and many subjects ("Relance devis"), come back on thousands of exchanges.  ``details``
    holds the stemmed details computed ahead (``None``: not computed).
    """
    timeline = _timeline_rows(conn, entries)
    insert_tuples(conn, exchange_timeline, TIMELINE_COLUMNS, timeline, convert=False)
    if len(indexed) > _INDEXED_TEXTS_MAX:
        indexed.clear()

    def stemmed(value: str) -> str:
        found = indexed.get(value)
        if found is None:
            found = indexed[value] = index_text(value)
        return found

    with _STEMMING:
        rows = [
            (e.id, stemmed(e.subject), ahead or index_text(e.details), stemmed(e.names))
            for e, ahead in zip(entries, details, strict=True)
        ]
    _write_sqlite_texts(conn, rows)
    # The words typed prefixes are completed from, once for the whole batch.
    add_search_terms(conn, (text_ for row in rows for text_ in row[1:]))


def _timeline_rows(conn: Connection, entries: Sequence[IndexEntry]) -> list[tuple[object, ...]]:
    """The timeline rows of ``entries`` in the order of the table's key (scope, scope id,
    start, exchange): each index of the timeline starts with the scope, so the inserts walk
    each index in order instead of jumping about it (2.5 times faster per row on SQLite,
    measured: docs/performance.md)."""
    start = driver_value(conn, exchange_timeline.c.start_at)
    rows = [row for e in entries for row in e.timeline_rows(start(e.start_at))]
    rows.sort(key=_TIMELINE_KEY)
    return rows


_TIMELINE_KEY = operator.itemgetter(0, 1, 2, 3)


#: The search key of the exchange row ``e`` (start minute, floored, times 2**31 plus its id),
#: exactly as migration 0011's trigger on ``exchange_fts_input`` computes it.
_SQLITE_SEARCH_KEY = (
    "((unixepoch(e.start_at) - ((unixepoch(e.start_at) % 60) + 60) % 60) / 60) * 2147483648 + e.id"
)


def _write_sqlite_texts(conn: Connection, rows: Sequence[tuple[int, str, str, str]]) -> None:
    """What inserting ``rows`` into ``exchange_fts_input`` (:data:`SQLITE_INSERT_SQL`) does,
    as set statements and plain inserts instead of its trigger.

    A statement run by a trigger has a statement journal, and FTS5 writes its pending terms
    to disk at each one: a segment for every exchange, then their merging (30 times the
    cost of a plain insert, which leaves the terms in memory until the commit).  The keys
    are computed by SQLite for the whole batch (its ids are one range), and the full-text
    rows go in key order, as FTS5 wants them.
    """
    ids = [row[0] for row in rows]
    low, high = min(ids), max(ids)
    assert high - low + 1 == len(rows)  # _reserve_ids: one range a batch
    conn.exec_driver_sql(
        "INSERT INTO exchange_search_key (exchange_id, search_key) "
        f"SELECT e.id, {_SQLITE_SEARCH_KEY} FROM exchanges e WHERE e.id BETWEEN ? AND ?",
        (low, high),
    )
    keys: dict[int, int] = dict(
        conn.exec_driver_sql(
            "SELECT exchange_id, search_key FROM exchange_search_key "
            "WHERE exchange_id BETWEEN ? AND ?",
            (low, high),
        ).all()
    )
    keyed = sorted((keys[row[0]], *row[1:]) for row in rows)
    conn.exec_driver_sql(
        "INSERT INTO exchange_fts (rowid, subject, details, names) VALUES (?, ?, ?, ?)", keyed
    )
    conn.exec_driver_sql(
        "INSERT INTO exchange_fts_title (rowid, subject, names) VALUES (?, ?, ?)",
        [(key, subject, names) for key, subject, _, names in keyed],
    )


#: Distinct texts whose stemmed form is kept during an import (a bounded memory).
_INDEXED_TEXTS_MAX = 200_000


#: The search document of :data:`grc_core.indexing.PG_DOCUMENT`, over the columns of the
#: staging table instead of bound parameters (the same configurations and weights).
_PG_STAGED_DOCUMENT = re.sub(r":(subject|names|details)\b", r"s.\1", PG_DOCUMENT)


def _write_pg_entries(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """The index rows of freshly inserted exchanges, on PostgreSQL, in two statements.

    The texts are copied (``COPY``) into a temporary table and the documents computed by one
    ``INSERT … SELECT``: the same ``to_tsvector`` expressions as one-by-one writes, without
    a round trip and a statement per exchange.
    """
    timeline = _timeline_rows(conn, entries)
    insert_tuples(conn, exchange_timeline, TIMELINE_COLUMNS, timeline, convert=False)
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS grc_import_texts "
        "(exchange_id bigint, subject text, names text, details text) ON COMMIT DROP"
    )
    copy_rows(
        conn,
        "grc_import_texts",
        ("exchange_id", "subject", "names", "details"),
        [(e.id, e.subject, e.names, e.details) for e in entries],
    )
    conn.exec_driver_sql(
        "INSERT INTO exchange_search (exchange_id, names, document) "
        f"SELECT s.exchange_id, s.names, {_PG_STAGED_DOCUMENT} FROM grc_import_texts s"
    )
    conn.exec_driver_sql("TRUNCATE grc_import_texts")


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


def _row(lookups: _Lookups, rec: ExchangeRecord, where: str, now: datetime) -> dict[str, object]:
    start = require_aware(rec.start, f"{where}: start")
    end = start if rec.end is None else require_aware(rec.end, f"{where}: end")
    if end < start:
        raise ValidationError(f"{where}: end is before start", field="end")
    if rec.author_id not in lookups.users:
        raise ValidationError(f"{where}: no active user {rec.author_id}", field="author")
    if rec.company_id is not None and rec.company_id not in lookups.companies:
        raise ValidationError(f"{where}: no company {rec.company_id}", field="company")
    category = None
    if rec.category is not None:
        category = lookups.categories.get(rec.category)
        if category is None:
            raise ValidationError(
                f"{where}: unknown or retired category {rec.category!r}", field="category"
            )
    return {
        "uuid": rec.uuid or uuid_module.uuid4(),
        "start_at": start,
        "end_at": end,
        "action_id": lookups.picklist(_ACTION, rec.action, where),
        "status_id": lookups.picklist(_STATUS, rec.status, where),
        "medium_id": lookups.picklist(_MEDIUM, rec.medium, where),
        "category_id": category,
        "subject": clean_line(rec.subject, f"{where}: subject", SUBJECT_MAX),
        "details": clean_text(rec.details, f"{where}: details", DETAILS_MAX),
        "private": bool(rec.private),
        "author_id": rec.author_id,
        "company_id": rec.company_id,
        "created_at": rec.created_at or now,
        "updated_at": rec.created_at or now,
        # The first version, as the ORM would write it (optimistic concurrency).
        "version": 1,
    }


def _links(
    lookups: _Lookups, rec: ExchangeRecord, where: str
) -> tuple[list[int], list[int], list[int]]:
    users = list(
        dict.fromkeys(rec.assignee_ids if rec.assignee_ids is not None else [rec.author_id])
    )
    if not users:
        raise ValidationError(
            f"{where}: an exchange needs at least one assigned user", field="assignees"
        )
    if any(u not in lookups.users for u in users):
        raise ValidationError(f"{where}: an assignee is not an active user", field="assignees")
    opps, cons = list(dict.fromkeys(rec.opportunity_ids)), list(dict.fromkeys(rec.contact_ids))
    if rec.company_id is None and (opps or cons):
        raise ValidationError(
            f"{where}: a global exchange cannot be linked to records",
            field="opportunities" if opps else "contacts",
        )
    for o in opps:
        if lookups.opportunities.get(o) != rec.company_id:
            raise ValidationError(
                f"{where}: opportunity {o} does not belong to the company", field="opportunities"
            )
    for c in cons:
        if lookups.contacts.get(c, (None,))[0] != rec.company_id:
            raise ValidationError(
                f"{where}: contact {c} does not belong to the company", field="contacts"
            )
    return users, opps, cons


# --- records from files: names, logins and external references --------------------------------

#: The fields a line of an import file may have (CSV columns, JSON keys).  A list field
#: holds several values: a JSON array, or values separated by ``;`` in CSV.
FILE_FIELDS = (
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
    "created_at",
    "author",
    "author_ref",
    "assignees",
    "assignee_refs",
    "company",
    "company_ref",
    "opportunities",
    "opportunity_refs",
    "contacts",
    "contact_refs",
)
_FIELD_NAMES = frozenset(FILE_FIELDS)
_LIST_FIELDS = frozenset(
    {"assignees", "assignee_refs", "opportunities", "opportunity_refs", "contacts", "contact_refs"}
)
_TRUE, _FALSE = {"1", "true", "yes", "oui", "y"}, {"", "0", "false", "no", "non", "n"}


class ImportLineError(ValidationError):
    """A line of an import file that cannot become an exchange.

    :param line: its line number in the file (1 is the first line).
    :param field: the offending field.
    """

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}, field {field}: {message}", field=field)
        self.line = line


class _Names:
    """One name (or reference) → id table; a name held by several records is ambiguous."""

    def __init__(self, what: str, pairs: Iterable[tuple[object, int]]) -> None:
        self.what = what
        self.ids: dict[object, int | None] = {}
        for key, ident in pairs:
            if key is not None:
                self.ids[key] = None if key in self.ids else ident

    def find(self, key: object, line: int, field: str, how: str) -> int:
        if key not in self.ids:
            raise ImportLineError(line, field, f"no {self.what} with {how} {key!r}")
        ident = self.ids[key]
        if ident is None:
            raise ImportLineError(
                line, field, f"several {self.what}s have {how} {key!r}; use an external reference"
            )
        return ident


class FileResolver:
    """Turns the fields of one line of an import file into an :class:`ExchangeRecord`.

    Companies are found by name (``company``) or external reference (``company_ref``), users
    by login or reference, opportunities by title and contacts by full name *within the
    exchange's company* (or by reference).  Every table is loaded once.

    :param zone: the time zone of date-times written without an offset.
    """

    def __init__(self, session: Session, zone: tzinfo) -> None:
        self.zone = zone
        users = session.execute(select(User.id, User.login, User.external_ref)).all()
        self.logins = _Names("user", ((u.login, u.id) for u in users))
        self.user_refs = _Names("user", ((u.external_ref, u.id) for u in users))
        companies = session.execute(select(Company.id, Company.name, Company.external_ref)).all()
        self.company_names = _Names("company", ((c.name, c.id) for c in companies))
        self.company_refs = _Names("company", ((c.external_ref, c.id) for c in companies))
        opps = session.execute(
            select(
                Opportunity.id, Opportunity.company_id, Opportunity.title, Opportunity.external_ref
            )
        ).all()
        self.opp_titles = _Names("opportunity", (((o.company_id, o.title), o.id) for o in opps))
        self.opp_refs = _Names("opportunity", ((o.external_ref, o.id) for o in opps))
        contacts = session.execute(
            select(
                Contact.id,
                Contact.company_id,
                Contact.first_name,
                Contact.last_name,
                Contact.external_ref,
            )
        ).all()
        self.contact_names = _Names(
            "contact",
            (((c.company_id, f"{c.first_name} {c.last_name}".strip()), c.id) for c in contacts),
        )
        self.contact_refs = _Names("contact", ((c.external_ref, c.id) for c in contacts))

    def record(self, line: int, fields: Mapping[str, object]) -> ExchangeRecord:
        """The exchange of ``line``; :class:`ImportLineError` names the line and the field."""
        if not fields.keys() <= _FIELD_NAMES:
            unknown = sorted(set(fields) - _FIELD_NAMES)
            raise ImportLineError(
                line, unknown[0], f"unknown field; the fields are {', '.join(FILE_FIELDS)}"
            )
        get = self._getter(line, fields)
        subject = get("subject")
        start = get("start")
        action = get("action")
        for name, value in (("subject", subject), ("start", start), ("action", action)):
            if value is None:
                raise ImportLineError(line, name, "required")
        author = self._one(line, get, "author", self.logins, self.user_refs)
        if author is None:
            raise ImportLineError(line, "author", "required (a login, or author_ref)")
        company = self._one(line, get, "company", self.company_names, self.company_refs)
        return ExchangeRecord(
            subject=str(subject),
            details=str(get("details") or ""),
            start=cast(datetime, self._when(line, "start", start)),  # required: checked above
            end=self._when(line, "end", get("end")),
            action=str(action),
            status=str(get("status") or "done"),
            medium=_text_or_none(get("medium")),
            category=_text_or_none(get("category")),
            private=self._flag(line, get("private")),
            created_at=self._when(line, "created_at", get("created_at")),
            uuid=self._uuid(line, get("uuid")),
            author_id=author,
            assignee_ids=self._many(line, get, "assignees", None, self.logins, self.user_refs),
            company_id=company,
            opportunity_ids=self._many(
                line, get, "opportunities", company, self.opp_titles, self.opp_refs
            )
            or (),
            contact_ids=self._many(
                line, get, "contacts", company, self.contact_names, self.contact_refs
            )
            or (),
            line=line,
        )

    @staticmethod
    def _getter(line: int, fields: Mapping[str, object]) -> Callable[[str], object]:
        # One pass over the fields given (blank ones dropped), then dictionary look-ups:
        # this runs for every line of files of millions of lines.
        values: dict[str, object] = {}
        for name, value in fields.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
                if name in _LIST_FIELDS:
                    value = [v.strip() for v in value.split(";") if v.strip()]
            elif value is None:
                continue
            elif isinstance(value, list) and name in _LIST_FIELDS:
                if not all(isinstance(v, str) for v in value):
                    raise ImportLineError(line, name, "must be a list of texts")
                value = [v.strip() for v in value if v.strip()]
            elif not isinstance(value, bool | int | float):
                raise ImportLineError(line, name, f"unexpected {type(value).__name__}")
            values[name] = value
        return values.get

    @staticmethod
    def _one(
        line: int, get: Callable[[str], object], field: str, names: _Names, refs: _Names
    ) -> int | None:
        name, ref = get(field), get(f"{field}_ref")
        if name is not None and ref is not None:
            raise ImportLineError(line, field, f"give {field} or {field}_ref, not both")
        if ref is not None:
            return refs.find(str(ref), line, f"{field}_ref", "external reference")
        if name is not None:
            return names.find(str(name), line, field, "login" if field == "author" else "name")
        return None

    @staticmethod
    def _many(
        line: int,
        get: Callable[[str], object],
        field: str,
        company: int | None,
        names: _Names,
        refs: _Names,
    ) -> list[int] | None:
        ref_field = {"assignees": "assignee_refs", "opportunities": "opportunity_refs"}.get(
            field, "contact_refs"
        )
        given, given_refs = get(field), get(ref_field)
        if given is None and given_refs is None:
            return None
        found: list[int] = []
        for value in _as_list(given_refs):
            found.append(refs.find(value, line, ref_field, "external reference"))
        for value in _as_list(given):
            if field == "assignees":
                found.append(names.find(value, line, field, "login"))
            elif company is None:
                raise ImportLineError(
                    line, field, "names are looked up in the company: give company or refs"
                )
            else:
                how = "title" if field == "opportunities" else "name"
                found.append(names.find((company, value), line, field, f"{how} in the company"))
        return found

    def _when(self, line: int, field: str, value: object) -> datetime | None:
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ImportLineError(
                line, field, f"{value!r} is not an ISO 8601 date-time (2024-03-01T09:30+01:00)"
            ) from None
        return when if when.tzinfo is not None else when.replace(tzinfo=self.zone)

    @staticmethod
    def _flag(line: int, value: object) -> bool:
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ImportLineError(line, "private", f"{value!r} is not true or false")

    @staticmethod
    def _uuid(line: int, value: object) -> uuid_module.UUID | None:
        if value is None:
            return None
        try:
            return uuid_module.UUID(str(value))
        except ValueError:
            raise ImportLineError(line, "uuid", f"{value!r} is not a UUID") from None


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
