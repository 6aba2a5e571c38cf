"""search by date: date-ordered full-text index, subject-and-names index, prefix words

Revision ID: 0011
Revises: 0010

Quick search ranks the most recent matches by start date, and finds matches in the subject,
company or contact names without reading the (many more) matches in the details.

SQLite: the FTS5 rows are keyed by a *search key* that sorts like (start minute, id) instead
of by the exchange id, so that FTS5 reads matches newest first and stops at the window; a
second FTS5 table holds only the subject and names; ``exchange_search_key`` maps an exchange
to its key (its start may change later); ``exchange_fts_terms`` lists the indexed words, so a
typed prefix becomes a few exact words instead of FTS5's prefix scan of every posting.
PostgreSQL: a GIN index over the subject and names part (weights A and B) of the document.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The search key of the exchange row ``e``: its start minute (floored, also before 1970)
#: times 2**31, plus its id (ids are PostgreSQL integers: below 2**31).  Years 1 to 9999 fit
#: in SQLite's 64-bit rowid.  Kept identical in grc_core.indexing.
KEY = (
    "((unixepoch(e.start_at) - ((unixepoch(e.start_at) % 60) + 60) % 60) / 60) * 2147483648 + e.id"
)
_TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2'"

SQLITE_UPGRADE = [
    "ALTER TABLE exchange_fts RENAME TO exchange_fts_by_id",
    f"CREATE VIRTUAL TABLE exchange_fts USING fts5(subject, details, names, {_TOKENIZE})",
    f"CREATE VIRTUAL TABLE exchange_fts_title USING fts5(subject, names, {_TOKENIZE})",
    "CREATE TABLE exchange_search_key ("
    " exchange_id INTEGER PRIMARY KEY REFERENCES exchanges(id) ON DELETE CASCADE,"
    " search_key INTEGER NOT NULL)",
    "CREATE TABLE exchange_fts_terms (term TEXT PRIMARY KEY) WITHOUT ROWID",
    # Dropping the key drops both full-text rows (also when the exchange is deleted).
    "CREATE TRIGGER exchange_search_key_delete AFTER DELETE ON exchange_search_key BEGIN"
    " DELETE FROM exchange_fts WHERE rowid = OLD.search_key;"
    " DELETE FROM exchange_fts_title WHERE rowid = OLD.search_key;"
    " END",
    # One insert per exchange (exchange id, then the three stemmed texts, as before this
    # revision) writes its key and both full-text rows.
    "CREATE VIEW exchange_fts_input AS"
    " SELECT k.exchange_id AS exchange_id, f.subject AS subject, f.details AS details,"
    " f.names AS names FROM exchange_search_key k JOIN exchange_fts f ON f.rowid = k.search_key",
    "CREATE TRIGGER exchange_fts_input_insert INSTEAD OF INSERT ON exchange_fts_input BEGIN"
    f" INSERT INTO exchange_search_key (exchange_id, search_key) SELECT e.id, {KEY}"
    " FROM exchanges e WHERE e.id = NEW.exchange_id;"
    " INSERT INTO exchange_fts (rowid, subject, details, names)"
    " SELECT search_key, NEW.subject, NEW.details, NEW.names"
    " FROM exchange_search_key WHERE exchange_id = NEW.exchange_id;"
    " INSERT INTO exchange_fts_title (rowid, subject, names)"
    " SELECT search_key, NEW.subject, NEW.names"
    " FROM exchange_search_key WHERE exchange_id = NEW.exchange_id;"
    " END",
    # Existing rows, their text unchanged (an older text form is rewritten by
    # grc_core.indexing.ensure_search_format after the migrations).  Set statements, not the
    # view: FTS5 flushes its pending terms at the end of each statement, so a trigger's
    # statement per exchange would write a segment per exchange.
    "INSERT INTO exchange_search_key (exchange_id, search_key)"
    f" SELECT e.id, {KEY} FROM exchanges e JOIN exchange_fts_by_id o ON o.rowid = e.id",
    "INSERT INTO exchange_fts (rowid, subject, details, names)"
    " SELECT k.search_key, o.subject, o.details, o.names FROM exchange_fts_by_id o"
    " JOIN exchange_search_key k ON k.exchange_id = o.rowid ORDER BY k.search_key",
    "INSERT INTO exchange_fts_title (rowid, subject, names)"
    " SELECT k.search_key, o.subject, o.names FROM exchange_fts_by_id o"
    " JOIN exchange_search_key k ON k.exchange_id = o.rowid ORDER BY k.search_key",
    "CREATE VIRTUAL TABLE temp.exchange_fts_vocabulary USING fts5vocab(main, exchange_fts, 'row')",
    # Private-use marks (stop words, part boundary) are not words anyone types.
    "INSERT INTO exchange_fts_terms (term) SELECT term FROM temp.exchange_fts_vocabulary"
    " WHERE unicode(term) NOT BETWEEN 57344 AND 63743",
    "DROP TABLE temp.exchange_fts_vocabulary",
    "DROP TABLE exchange_fts_by_id",
]

SQLITE_DOWNGRADE = [
    f"CREATE VIRTUAL TABLE exchange_fts_by_id USING fts5(subject, details, names, {_TOKENIZE})",
    "INSERT INTO exchange_fts_by_id (rowid, subject, details, names)"
    " SELECT k.exchange_id, f.subject, f.details, f.names FROM exchange_fts f"
    " JOIN exchange_search_key k ON k.search_key = f.rowid",
    "DROP TRIGGER exchange_fts_input_insert",
    "DROP VIEW exchange_fts_input",
    "DROP TRIGGER exchange_search_key_delete",
    "DROP TABLE exchange_search_key",
    "DROP TABLE exchange_fts_terms",
    "DROP TABLE exchange_fts_title",
    "DROP TABLE exchange_fts",
    "ALTER TABLE exchange_fts_by_id RENAME TO exchange_fts",
]

#: The subject and names of the document (weights A and B), an expression GIN can index.
PG_TITLE = "ts_filter(document, '{a,b}')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX ix_exchange_search_title ON exchange_search USING gin (({PG_TITLE}))"
        )
        # The planner estimates how common a word is in the subjects from this expression's
        # statistics (a rare subject word: the index; a common one: walk by date).
        op.execute("ANALYZE exchange_search")
    else:
        for statement in SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_exchange_search_title")
    else:
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
