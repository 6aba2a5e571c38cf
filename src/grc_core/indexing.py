"""Keeping the timeline and full-text indexes in step with exchanges.

Called by the services in the writing transaction, so an index never shows a change that
was rolled back nor misses one that was committed.  The SQL differs per database: FTS5 on
SQLite, a ``tsvector`` with a GIN index on PostgreSQL (see migration 0003).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.orm import Session

from grc_core.db_rows import driver_value, insert_tuples
from grc_core.driver_statements import DriverWrite
from grc_core.french_text import PART_MARK, STOP_MARK, index_text
from grc_core.models import (
    Exchange,
    FieldType,
    Scope,
    exchange_timeline,
    exchange_timeline_choices,
)
from grc_core.models.timeline import GLOBAL_SCOPE, GLOBAL_SCOPE_ID

# French stems for words, whole unaccented words for type-ahead prefixes (migration 0003).
PG_DOCUMENT = " || ".join(
    f"setweight(to_tsvector('{config}', :{field}), '{weight}')"
    for field, weight in (("subject", "A"), ("names", "B"), ("details", "C"))
    for config in ("grc_french", "grc_simple")
)
#: The date blocks of the exchange's start (migration 0012), written with the row: the
#: table's trigger would otherwise look the start up for every row.
PG_SLICES = "grc_search_slices(:start)"
#: The search rows of exchanges (one, the usual write, run on the driver's cursor).
_PG_UPSERT = DriverWrite(
    text(
        "INSERT INTO exchange_search (exchange_id, names, document, slices) "
        f"VALUES (:id, :names, {PG_DOCUMENT}, {PG_SLICES}) "
        "ON CONFLICT (exchange_id) DO UPDATE SET names = excluded.names,"
        " document = excluded.document, slices = excluded.slices"
    )
)
# SQLite (migration 0011): the key row's trigger drops both full-text rows with it.
_SQLITE_DELETE = text("DELETE FROM exchange_search_key WHERE exchange_id = :id")
_SQLITE_INSERT_SQL = (
    "INSERT INTO exchange_fts_input (exchange_id, subject, details, names) VALUES (?, ?, ?, ?)"
)
#: The insert of one exchange into SQLite's full-text indexes: its id and its subject,
#: details and names as made by :func:`grc_core.french_text.index_text` (bulk import writes
#: through it too).  A view's trigger computes the exchange's search key from its start
#: (the exchange row must exist) and writes the full-text and the subject-and-names rows.
#: Then call :func:`add_search_terms` with the same texts.
SQLITE_INSERT_SQL = _SQLITE_INSERT_SQL
#: The search key of the exchange row ``e``, as migration 0011's trigger computes it.
_SQLITE_KEY = (
    "((unixepoch(e.start_at) - ((unixepoch(e.start_at) % 60) + 60) % 60) / 60) * 2147483648 + e.id"
)
_SQLITE_KEYS_SQL = (
    "INSERT INTO exchange_search_key (exchange_id, search_key)"
    f" SELECT e.id, {_SQLITE_KEY} FROM exchanges e"
    " WHERE e.id IN (SELECT value FROM json_each(?))"
)
_SQLITE_READ_KEYS_SQL = (
    "SELECT exchange_id, search_key FROM exchange_search_key"
    " WHERE exchange_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_TERMS_SQL = "INSERT OR IGNORE INTO exchange_fts_terms (term) VALUES (?)"
#: Not words: the marks of stop words and of the part boundary (grc_core.french_text).
_MARKS = frozenset({STOP_MARK, PART_MARK})


#: The columns of a timeline row, in the order of :meth:`IndexEntry.timeline_rows`.
TIMELINE_COLUMNS = (
    "scope",
    "scope_id",
    "start_at",
    "exchange_id",
    "action_id",
    "status_id",
    "category_id",
)
#: The columns of a choice-value timeline row, in the order of :meth:`IndexEntry.choice_rows`.
CHOICE_COLUMNS = ("scope", "scope_id", "field_id", "value", "start_at", "exchange_id")
_COMPANY, _OPPORTUNITY, _USER = Scope.COMPANY.value, Scope.OPPORTUNITY.value, Scope.USER.value


@dataclass(slots=True)
class IndexEntry:
    """What the indexes need to know of one exchange (the id sets hold distinct ids)."""

    id: int
    start_at: datetime
    subject: str
    details: str
    names: str
    company_ids: Collection[int]
    opportunity_ids: Collection[int]
    user_ids: Collection[int]
    #: The exchange's own columns that histories filter on, copied onto its timeline rows.
    action_id: int | None = None
    status_id: int | None = None
    category_id: int | None = None
    #: ``(field id, value)`` of its choice-field values.
    choices: Collection[tuple[int, str]] = ()
    #: Linked to no company (``company_id`` is ``NULL``): in the global history.
    is_global: bool = False

    def _scopes(self) -> list[tuple[str, int]]:
        return [
            (scope, i)
            for scope, ids in (
                (_COMPANY, self.company_ids),
                (_OPPORTUNITY, self.opportunity_ids),
                (_USER, self.user_ids),
            )
            for i in ids
        ]

    def timeline_rows(self, start: object) -> list[tuple[object, ...]]:
        """Rows of the timeline index (:data:`TIMELINE_COLUMNS`), ``start`` being the start
        in the driver's form."""
        tail = (start, self.id, self.action_id, self.status_id, self.category_id)
        return [(scope, i, *tail) for scope, i in self._scopes()]

    def choice_rows(self, start: object) -> list[tuple[object, ...]]:
        """Rows of the choice-value timeline (:data:`CHOICE_COLUMNS`): one per scope row
        and choice value, and the global scope's for an exchange linked to no company."""
        if not self.choices:
            return []
        scopes = self._scopes()
        if self.is_global:
            scopes.append((GLOBAL_SCOPE, GLOBAL_SCOPE_ID))
        return [
            (scope, i, field_id, value, start, self.id)
            for field_id, value in self.choices
            for scope, i in scopes
        ]

    def text_row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "subject": self.subject,
            "details": self.details,
            "names": self.names,
        }


def entry_for(exchange: Exchange) -> IndexEntry:
    """The index entry of a loaded exchange (its links already loaded)."""
    companies = {exchange.company_id} if exchange.company_id is not None else set()
    companies |= {o.company_id for o in exchange.opportunities}
    companies |= {c.company_id for c in exchange.contacts}
    names = [exchange.company.name] if exchange.company is not None else []
    names += [c.full_name for c in exchange.contacts]
    return IndexEntry(
        id=exchange.id,
        start_at=exchange.start_at,
        subject=exchange.subject,
        details=exchange.details,
        names=" ".join(names),
        company_ids=frozenset(companies),
        opportunity_ids=frozenset(o.id for o in exchange.opportunities),
        user_ids=frozenset({exchange.author_id} | {u.id for u in exchange.assignees}),
        is_global=exchange.company_id is None,
        action_id=exchange.action_id,
        status_id=exchange.status_id,
        category_id=exchange.category_id,
        choices=[
            (v.field_id, v.text_value)
            for v in exchange.field_values
            if v.field.type is FieldType.CHOICE and v.text_value is not None
        ],
    )


def write_entries(conn: Connection, entries: Sequence[IndexEntry], *, fresh: bool = False) -> None:
    """Write (or rewrite) the index rows of ``entries``.

    :param fresh: the exchanges were just inserted and have no index rows yet (bulk import
        skips the deletes).
    """
    if not entries:
        return
    ids = [e.id for e in entries]
    if not fresh:
        remove_entries(conn, ids)
    write_timeline(conn, entries)
    texts = [e.text_row() for e in entries]
    if conn.dialect.name == "postgresql":
        rows = [t | {"start": e.start_at} for t, e in zip(texts, entries, strict=True)]
        _PG_UPSERT.execute_each(conn, rows)
    else:
        write_sqlite_texts(conn, [_sqlite_row(t) for t in texts])


def write_sqlite_texts(conn: Connection, rows: Sequence[tuple[int, str, str, str]]) -> None:
    """Insert rows ``(exchange id, subject, details, names)`` of stemmed texts (see
    :data:`SQLITE_INSERT_SQL`) into SQLite's full-text indexes, and their words into the
    list of words that type-ahead prefixes are completed from."""
    if len(rows) == 1:
        conn.exec_driver_sql(_SQLITE_INSERT_SQL, list(rows))
    elif rows:
        # What the view's trigger does, as set statements: FTS5 writes its pending terms at
        # the end of every statement, so a trigger's statement per row wrote a segment per
        # exchange (a reindex of thousands of exchanges, 30 times slower).
        ids = json.dumps([row[0] for row in rows])
        conn.exec_driver_sql(_SQLITE_KEYS_SQL, (ids,))
        keys: dict[int, int] = dict(conn.exec_driver_sql(_SQLITE_READ_KEYS_SQL, (ids,)).all())
        keyed = sorted((keys[row[0]], *row[1:]) for row in rows)
        conn.exec_driver_sql(
            "INSERT INTO exchange_fts (rowid, subject, details, names) VALUES (?, ?, ?, ?)",
            keyed,
        )
        conn.exec_driver_sql(
            "INSERT INTO exchange_fts_title (rowid, subject, names) VALUES (?, ?, ?)",
            [(key, subject, names) for key, subject, _, names in keyed],
        )
    add_search_terms(conn, (t for row in rows for t in row[1:]))


def add_search_terms(conn: Connection, texts: Iterable[str]) -> None:
    """Record the words of stemmed ``texts`` (as :func:`grc_core.french_text.index_text`
    makes them) in SQLite's list of indexed words.

    A prefix typed is completed from this list into exact words (see
    :func:`grc_core.queries.search.search`): a word missing here is not found by its
    prefixes.  Each distinct word is written once per call, so a caller writing many
    exchanges (bulk import) should pass a whole batch's texts in one call.
    """
    words: set[str] = set()
    for text_ in set(texts):
        words.update(text_.split())
    words -= _MARKS
    if words:
        conn.exec_driver_sql(_SQLITE_TERMS_SQL, [(w,) for w in sorted(words)])


def write_timeline(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """Insert the timeline rows of ``entries`` (those of the timeline and of choice values);
    the exchanges have none yet (:func:`remove_entries` first when rewriting)."""
    start = driver_value(conn, exchange_timeline.c.start_at)
    rows: list[tuple[object, ...]] = []
    choices: list[tuple[object, ...]] = []
    for e in entries:
        when = start(e.start_at)
        rows += e.timeline_rows(when)
        if e.choices:
            choices += e.choice_rows(when)
    insert_tuples(conn, exchange_timeline, TIMELINE_COLUMNS, rows, convert=False)
    if choices:
        insert_tuples(conn, exchange_timeline_choices, CHOICE_COLUMNS, choices, convert=False)


def _sqlite_row(row: dict[str, object]) -> tuple[int, str, str, str]:
    # Stemmed and folded by GRC (see grc_core.french_text): FTS5 has no French stemmer.
    return (
        int(str(row["id"])),
        index_text(str(row["subject"])),
        index_text(str(row["details"])),
        index_text(str(row["names"])),
    )


def remove_entries(conn: Connection, ids: Sequence[int]) -> None:
    """Drop the index rows of the exchanges ``ids``."""
    conn.execute(delete(exchange_timeline).where(exchange_timeline.c.exchange_id.in_(ids)))
    conn.execute(
        delete(exchange_timeline_choices).where(exchange_timeline_choices.c.exchange_id.in_(ids))
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("DELETE FROM exchange_search WHERE exchange_id = ANY(:ids)"), {"ids": list(ids)}
        )
    else:
        conn.execute(_SQLITE_DELETE, [{"id": i} for i in ids])


def index_exchange(session: Session, exchange: Exchange, *, fresh: bool = False) -> None:
    """Rewrite the index rows of one exchange (after it was flushed).

    :param fresh: the exchange was just inserted by this transaction, so it has no index
        rows to delete first (two statements fewer for every creation).
    """
    write_entries(session.connection(), [entry_for(exchange)], fresh=fresh)


def unindex_exchange(session: Session, exchange_id: int) -> None:
    """Drop the index rows of an exchange about to be deleted."""
    remove_entries(session.connection(), [exchange_id])


def reindex(session: Session, exchange_ids: Iterable[int]) -> None:
    """Recompute the entries of the given exchanges (after a rename or a transfer)."""
    ids = sorted(set(exchange_ids))
    for start in range(0, len(ids), 500):
        batch = session.scalars(select(Exchange).where(Exchange.id.in_(ids[start : start + 500])))
        write_entries(session.connection(), [entry_for(e) for e in batch])


#: The form of the text in SQLite's full-text index, kept in the database's ``user_version``:
#: 0 = raw text (migration 0003), 1 = French stems and folded words (grc_core.french_text).
SQLITE_SEARCH_FORMAT = 1


def ensure_search_format(conn: Connection) -> int:
    """Rewrite SQLite's full-text index if it holds text of an older form; return how many
    exchanges were reindexed (0 when it is current, and always on PostgreSQL).

    Run by :func:`grc_core.schema.upgrade` in the migrations' transaction, so a database
    upgraded from an older version finds with stems what it found before with whole words.
    """
    if conn.dialect.name != "sqlite":
        return 0
    if conn.exec_driver_sql("PRAGMA user_version").scalar_one() >= SQLITE_SEARCH_FORMAT:
        return 0
    if not conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'exchange_fts_input'"
    ).first():
        return 0  # not migrated that far yet: the revision creating it is rewritten later
    session = Session(bind=conn)
    ids = list(session.scalars(select(Exchange.id).order_by(Exchange.id)))
    # Everything goes, rows of deleted exchanges and words no longer indexed included.
    for table in ("exchange_search_key", "exchange_fts", "exchange_fts_title"):
        conn.exec_driver_sql(f"DELETE FROM {table}")  # this module's names
    conn.exec_driver_sql("DELETE FROM exchange_fts_terms")
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        loaded = session.scalars(select(Exchange).where(Exchange.id.in_(batch)))
        texts = [entry_for(e).text_row() for e in loaded]
        write_sqlite_texts(conn, [_sqlite_row(t) for t in texts])
        session.expunge_all()
    # A pragma takes no bound parameter; the value is this module's constant.
    conn.exec_driver_sql(f"PRAGMA user_version = {SQLITE_SEARCH_FORMAT}")
    return len(ids)


def exchanges_of_company(session: Session, company_id: int) -> list[int]:
    """Every exchange whose index mentions the company (its own and linked ones)."""
    stmt = select(exchange_timeline.c.exchange_id).where(
        exchange_timeline.c.scope == Scope.COMPANY.value,
        exchange_timeline.c.scope_id == company_id,
    )
    return list(session.scalars(stmt))
