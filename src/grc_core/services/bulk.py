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
import json
import multiprocessing
import operator
import pickle
import re
import uuid as uuid_module
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from grc_core.db import READ_ONLY
from grc_core.db_rows import copy_rows, insert_tuples
from grc_core.errors import DatabaseError, ValidationError
from grc_core.french_text import index_text
from grc_core.indexing import (
    PG_DOCUMENT,
    PG_SLICES,
    TIMELINE_COLUMNS,
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
    Scope,
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


class _Prepared(NamedTuple):
    """One record of a batch, checked and turned into what it writes, values in the
    driver's form (the exchange's id is added when the batch is written)."""

    where: str
    #: The record's own UUID in the driver's form (``None``: it has none, one is made).
    uuid: object
    #: The rule it breaks, raised if it is not skipped (already imported) when written.
    error: ValidationError | None
    #: The exchange's values in the order of :data:`_EXCHANGE_COLUMNS`.
    row: tuple[object, ...]
    users: list[int]
    opportunities: list[int]
    contacts: list[int]
    #: ``(scope, scope id)`` of its timeline rows.
    scopes: list[tuple[str, int]]
    #: The rest of each timeline row: start (driver's form), action, status, category.
    tail: tuple[object, object, object, object]
    #: Subject, details and names for the full-text index (stemmed on SQLite).
    texts: tuple[str, str, str]


#: The columns of a prepared exchange row (:attr:`_Prepared.row`), the id left out.
_EXCHANGE_COLUMNS = (
    "uuid",
    "start_at",
    "end_at",
    "action_id",
    "status_id",
    "medium_id",
    "category_id",
    "subject",
    "details",
    "private",
    "author_id",
    "company_id",
    "created_at",
    "updated_at",
    "version",
)


class _Preparer:
    """Turns batches of records into :class:`_Prepared` rows: all of an import's Python
    work that writes nothing (checking, resolving, stemming, driver conversions).

    It reads only the lookup tables and the connection's dialect, so it may run in a
    process of its own (:func:`_in_a_process`) while the writer writes the batch before;
    there it also reads, on a connection of its own, which lines are already imported.
    """

    def __init__(self, conn: Connection, lookups: _Lookups) -> None:
        self.lookups = lookups
        self.engine = conn.engine
        #: A connection of its own, in the preparing process (see :meth:`forked`).
        self.reader: Connection | None = None
        self.dialect = conn.dialect
        self.sqlite = conn.dialect.name == "sqlite"
        self.seen: dict[uuid_module.UUID, str] = {}
        self.offset = 0
        table = cast(Table, Exchange.__table__)
        self.converters = [
            (i, process)
            for i, name in enumerate(_EXCHANGE_COLUMNS)
            if (process := table.c[name].type._cached_bind_processor(conn.dialect)) is not None
        ]
        start = exchange_timeline.c.start_at.type._cached_bind_processor(conn.dialect)
        self.start: Callable[[Any], object] = start or _same
        key = table.c.uuid.type._cached_bind_processor(conn.dialect)
        self.uuid: Callable[[Any], object] = key or _same

    def forked(self) -> None:
        """In the preparing process: open a connection of its own (the writer's stay the
        writer's), to leave out the lines already imported before checking them."""
        self.engine.dispose(close=False)
        try:
            self.reader = self.engine.connect().execution_options(**{READ_ONLY: True})
        except DBAPIError:
            self.reader = None  # every line is prepared; the writer still skips

    def close(self) -> None:
        if self.reader is not None:
            with suppress(DBAPIError):
                self.reader.close()
            self.reader = None

    def batch(self, records: list[ExchangeRecord]) -> list[_Prepared]:
        numbered = [(_where(rec, n), rec) for n, rec in enumerate(records, start=self.offset + 1)]
        self.offset += len(records)
        _check_uuids(numbered, self.seen)
        there = self._already_imported(numbered)
        now = utcnow()
        # Every row made without a creation time shares this one: converted once.
        now_value = next((process(now) for i, process in self.converters if i == _CREATED_AT), now)
        return [
            self._one(where, rec, now, now_value)
            if rec.uuid not in there
            else _Prepared(
                where,
                self.uuid(rec.uuid),
                # Raised only if the writer does not find it either (deleted meanwhile).
                ValidationError(
                    f"{where}: the exchange with uuid {rec.uuid} was deleted during the "
                    "import; run it again",
                    field="uuid",
                ),
                (),
                [],
                [],
                [],
                [],
                _NO_TAIL,
                _NO_TEXTS,
            )
            for where, rec in numbered
        ]

    def _already_imported(
        self, numbered: list[tuple[str, ExchangeRecord]]
    ) -> set[uuid_module.UUID]:
        """The UUIDs of ``numbered`` that a committed exchange has (in the preparing process
        only): a file imported again is skipped without checking and stemming every line.
        The writer looks them up again in its transaction, which decides."""
        if self.reader is None:
            return set()
        given = {self.uuid(rec.uuid): rec.uuid for _, rec in numbered if rec.uuid is not None}
        if not given:
            return set()
        try:
            found = _existing_uuids(self.reader, list(given))
            self.reader.rollback()
        except DBAPIError:  # an in-memory database, say: not the writer's
            self.reader = None
            return set()
        return {given[key] for key in found}

    def _one(self, where: str, rec: ExchangeRecord, now: datetime, now_value: object) -> _Prepared:
        lookups = self.lookups
        key = None if rec.uuid is None else self.uuid(rec.uuid)
        try:
            row = _row(lookups, rec, where, now)
            users, opps, cons = _links(lookups, rec, where)
        except ValidationError as exc:
            return _Prepared(
                where,
                key,
                _line_error(exc, rec, where),
                (),
                [],
                [],
                [],
                [],
                _NO_TAIL,
                _NO_TEXTS,
            )
        values = [row[name] for name in _EXCHANGE_COLUMNS]
        for i, process in self.converters:
            value = values[i]
            values[i] = now_value if value is now else process(value)
        companies = {rec.company_id} if rec.company_id is not None else set()
        companies.update(lookups.opportunities[o] for o in opps)
        companies.update(lookups.contacts[c][0] for c in cons)
        scopes = [(_COMPANY, c) for c in companies]
        scopes += [(_OPPORTUNITY, o) for o in opps]
        scopes += [(_USER, u) for u in {rec.author_id, *users}]
        names = [lookups.companies[rec.company_id]] if rec.company_id is not None else []
        names += [lookups.contacts[c][1] for c in cons]
        subject, details = cast(str, row["subject"]), cast(str, row["details"])
        texts = (subject, details, " ".join(names))
        if self.sqlite:
            texts = (self._stemmed(subject), index_text(details), self._stemmed(texts[2]))
        tail = (
            self.start(row["start_at"]),
            row["action_id"],
            row["status_id"],
            row["category_id"],
        )
        return _Prepared(where, key, None, tuple(values), users, opps, cons, scopes, tail, texts)

    def _stemmed(self, value: str) -> str:
        # Company and contact names, and many subjects ("Relance devis"), come back on
        # thousands of exchanges: each distinct text is stemmed once.
        indexed = self.lookups.indexed
        found = indexed.get(value)
        if found is None:
            if len(indexed) > _INDEXED_TEXTS_MAX:
                indexed.clear()
            found = indexed[value] = index_text(value)
        return found


def _same(value: object) -> object:
    return value


_CREATED_AT = _EXCHANGE_COLUMNS.index("created_at")
_NO_TAIL, _NO_TEXTS = (None, None, None, None), ("", "", "")
_COMPANY, _OPPORTUNITY, _USER = Scope.COMPANY.value, Scope.OPPORTUNITY.value, Scope.USER.value


def _prepared(
    preparer: _Preparer, records: Iterable[ExchangeRecord], size: int
) -> Iterator[list[_Prepared]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield preparer.batch(batch)


def _in_a_process(
    batches: Iterator[list[_Prepared]], started: Callable[[], None], ended: Callable[[], None]
) -> Iterator[list[_Prepared]]:
    """``batches``, produced by a process of its own (forked) while the caller writes.

    Reading, resolving and preparing the next batch runs on the other core: a thread
    would hold the interpreter's lock most of the time.  The pipe holds about one batch,
    so the process stays a batch or two ahead.  An exception of the producer is raised
    here, in order; leaving the loop stops the process.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def produce() -> None:
        receiver.close()
        try:
            started()
            for batch in batches:
                sender.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
            sender.send_bytes(pickle.dumps(None))
        except BaseException as exc:  # handed to the writer, raised there
            sender.send_bytes(_pickled_error(exc))
        finally:
            sender.close()
            ended()

    process = context.Process(target=produce, name="grc-import-prepare", daemon=True)
    process.start()
    sender.close()
    try:
        while True:
            try:
                data = receiver.recv_bytes()
            except EOFError:
                raise DatabaseError(
                    "the import stopped: its reading process ended without a word "
                    f"(exit code {process.exitcode}); nothing of this import is kept"
                ) from None
            item = pickle.loads(data)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(list[_Prepared], item)
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that cannot cross: its text does
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))


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
    :param read_ahead: iterate and check ``records`` in a process of its own (forked), a
        batch or two ahead of the writes (faster on two cores).  Only for an iterable that
        touches neither the session nor anything else of the calling process (a file being
        parsed): the process has a copy of it, and its exceptions must survive pickling.
        Where processes cannot be forked (Windows) the records are prepared here.
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
    preparer = _Preparer(conn, lookups)
    batches = _prepared(preparer, records, batch_size)
    # Without fork (Windows), the lines are prepared here, between the batches' writes.
    forking = "fork" in multiprocessing.get_all_start_methods()
    source = (
        _in_a_process(batches, preparer.forked, preparer.close)
        if read_ahead and forking
        else batches
    )
    try:
        for batch in source:
            fresh = _not_yet_imported(conn, batch)
            report.skipped += len(batch) - len(fresh)
            if fresh:
                ids = _insert_batch(conn, lookups, fresh)
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
        # Stops the preparing process now, not when the traceback is dropped.
        if isinstance(source, Generator):
            source.close()
    return report


def _sqlite_cache(conn: Connection) -> None:
    # A large page cache keeps the growing indexes in memory during the import.
    conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")


def _where(rec: ExchangeRecord, n: int) -> str:
    return f"line {rec.line}" if rec.line is not None else f"row {n}"


def _check_uuids(
    numbered: list[tuple[str, ExchangeRecord]], seen: dict[uuid_module.UUID, str]
) -> None:
    """Refuse a UUID given twice within one import (two different exchanges, or a file
    concatenated with itself: either way the file needs a look)."""
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


def _not_yet_imported(conn: Connection, batch: list[_Prepared]) -> list[_Prepared]:
    """The records of a batch whose ``uuid`` is not in the database yet.

    Importing the same file again writes nothing twice: the exchanges carry the file's
    UUIDs.
    """
    given = [p.uuid for p in batch if p.uuid is not None]
    if not given:
        return batch
    existing = _existing_uuids(conn, given)
    if not existing:
        return batch
    return [p for p in batch if p.uuid not in existing]


def _existing_uuids(conn: Connection, given: list[object]) -> set[object]:
    """Those of ``given`` (UUIDs in the driver's form) that an exchange has, in that form:
    no conversion either way."""
    if conn.dialect.name == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT uuid FROM exchanges WHERE uuid IN (SELECT value FROM json_each(?))",
            (json.dumps(given),),
        )
    else:
        found = conn.exec_driver_sql(
            "SELECT uuid FROM exchanges WHERE uuid = ANY(%(given)s)", {"given": given}
        )
    return set(found.scalars())


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


def _insert_batch(conn: Connection, lookups: _Lookups, batch: list[_Prepared]) -> list[int]:
    for prepared in batch:
        if prepared.error is not None:
            raise prepared.error
    # Ids are reserved up front, so the batch is one executemany (RETURNING with a
    # guaranteed order degrades to one statement per row on SQLite).
    ids = _reserve_ids(conn, len(batch))
    if lookups.keys_checked_here:
        with _keys_checked_by_batch(conn, batch):
            _write_batch(conn, batch, ids)
    else:
        _write_batch(conn, batch, ids)
    return ids


def _write_batch(conn: Connection, batch: list[_Prepared], ids: list[int]) -> None:
    pairs = list(zip(ids, batch, strict=True))
    insert_tuples(
        conn,
        cast(Table, Exchange.__table__),
        (*_EXCHANGE_COLUMNS, "id"),
        [(*p.row, ident) for ident, p in pairs],
        convert=False,
    )
    for link, other, values in (
        (exchange_assignees, "user_id", [(i, u) for i, p in pairs for u in p.users]),
        (
            exchange_opportunities,
            "opportunity_id",
            [(i, o) for i, p in pairs for o in p.opportunities],
        ),
        (exchange_contacts, "contact_id", [(i, c) for i, p in pairs for c in p.contacts]),
    ):
        insert_tuples(conn, link, ("exchange_id", other), values, convert=False)
    # The timeline rows in the order of the table's key (scope, scope id, start, exchange):
    # each index of the timeline starts with the scope, so the inserts walk each index in
    # order instead of jumping about it (2.5 times faster per row on SQLite, measured:
    # docs/performance.md).
    timeline = [
        (scope, scope_id, p.tail[0], ident, *p.tail[1:])
        for ident, p in pairs
        for scope, scope_id in p.scopes
    ]
    timeline.sort(key=_TIMELINE_KEY)
    insert_tuples(conn, exchange_timeline, TIMELINE_COLUMNS, timeline, convert=False)
    if conn.dialect.name == "postgresql":
        _write_pg_texts(conn, [(ident, *p.texts, p.tail[0]) for ident, p in pairs])
    else:
        texts = [(ident, *p.texts) for ident, p in pairs]
        _write_sqlite_texts(conn, texts)
        # The words typed prefixes are completed from, once for the whole batch.
        add_search_terms(conn, (text_ for row in texts for text_ in row[1:]))


_TIMELINE_KEY = operator.itemgetter(0, 1, 2, 3)


#: The tables that the rows of a batch refer to, with the columns naming them.
_PARENTS = (
    ("picklist_values", ("action_id", "status_id", "medium_id")),
    ("categories", ("category_id",)),
    ("users", ("author_id",)),
    ("companies", ("company_id",)),
)


@contextmanager
def _keys_checked_by_batch(conn: Connection, batch: Sequence[_Prepared]) -> Iterator[None]:
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
            at = _EXCHANGE_COLUMNS.index(column)
            found.update(cast(int, p.row[at]) for p in batch if p.row[at] is not None)
    wanted["users"].update(u for p in batch for u in p.users)
    wanted["opportunities"] = {o for p in batch for o in p.opportunities}
    wanted["contacts"] = {c for p in batch for c in p.contacts}
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
#: The date blocks of :data:`grc_core.indexing.PG_SLICES`, over the staged start.
_PG_STAGED_SLICES = PG_SLICES.replace(":start", "s.start_at")


def _write_pg_texts(conn: Connection, texts: Sequence[tuple[int, str, str, str, object]]) -> None:
    """The search rows of freshly inserted exchanges (id, subject, details, names, start),
    on PostgreSQL, in two statements.

    The texts are copied (``COPY``) into a temporary table and the documents computed by one
    ``INSERT … SELECT``: the same ``to_tsvector`` expressions as one-by-one writes, without
    a round trip and a statement per exchange.  The date blocks (``slices``) are given too,
    as :data:`grc_core.indexing.PG_SLICES` does: left out, the table's trigger would look
    each exchange's start up (about a third of the import's server time, measured).
    """
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS grc_import_texts "
        "(exchange_id bigint, subject text, names text, details text, start_at timestamptz)"
        " ON COMMIT DROP"
    )
    copy_rows(
        conn,
        "grc_import_texts",
        ("exchange_id", "subject", "names", "details", "start_at"),
        [
            (ident, subject, names, details, start)
            for ident, subject, details, names, start in texts
        ],
    )
    conn.exec_driver_sql(
        "INSERT INTO exchange_search (exchange_id, names, document, slices) "
        f"SELECT s.exchange_id, s.names, {_PG_STAGED_DOCUMENT}, {_PG_STAGED_SLICES}"
        " FROM grc_import_texts s"
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
        self.message = message

    def __reduce__(self) -> tuple[type[ImportLineError], tuple[int, str, str]]:
        # Raised in the preparing process, re-raised by the writer (pickled on the way).
        return ImportLineError, (self.line, cast(str, self.field), self.message)


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
