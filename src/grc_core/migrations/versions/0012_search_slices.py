"""search slices: date blocks in the full-text indexes, the list of indexed words (PostgreSQL)

Revision ID: 0012
Revises: 0011

PostgreSQL's GIN index cannot return matches by date: a common word was read by walking the
exchanges by start (every row when two common words seldom meet), a rare one by sorting all
its matches.  Each search row now also holds *slices*: the blocks of 4**k days (k = 0..7,
UTC days since 1970) its exchange's start falls in, as lexemes ``"~k.block"``.  Both GIN
indexes hold them with the words, so a search asks for the matches of a few blocks (newest
first, widened until the page is full) and GIN intersects the words with the blocks,
skipping through the postings instead of reading them all.  GRC writes the slices with the
row (``grc_search_slices(start)``); a trigger fills them from the exchange's start for a
writer that does not, and another follows a new start.

``exchange_search_terms`` lists the indexed lexemes (filled by a statement trigger), so the
word being typed is completed into exact words: GIN answers a prefix by reading every posting
of every word it covers, blocks or not.  SQLite's search key (0011) already orders by date.

The upgrade rewrites every search row and rebuilds both GIN indexes: 5 minutes for 1,000,000
exchanges on a busy two-core machine; autovacuum then clears the old row versions (or run
``VACUUM ANALYZE exchange_search``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What the two GIN indexes hold: the words (all, or those of the subject and names) and
#: the date blocks, in one tsvector, so that GIN's scan of a search's words and blocks
#: starts from the rarest of them and skips through the postings of the others (two
#: indexed columns are scanned one after the other: two common words that never meet
#: were intersected over the whole table for every slice).
PG_DOCUMENT = "document || slices"
PG_TITLE = "ts_filter(document, '{a,b}') || slices"
#: The lexemes ``~k.n`` (block n of 4**k days; a typed word or prefix never starts with
#: ``~``).  Kept identical in grc_core.queries.search (SLICE_LEVELS, slice_blocks).
SLICES_FUNCTION = """
CREATE FUNCTION grc_search_slices(start timestamptz) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_to_tsvector(ARRAY['~0.' || d, '~1.' || (d >> 2), '~2.' || (d >> 4),
    '~3.' || (d >> 6), '~4.' || (d >> 8), '~5.' || (d >> 10), '~6.' || (d >> 12),
    '~7.' || (d >> 14)])
  FROM (SELECT floor(extract(epoch FROM start) / 86400)::bigint AS d) AS day
$$
"""
# GRC's own writes give the slices (grc_core.indexing); the trigger fills them for a writer
# that does not (its lookup of the start costs about as much as the rest of the insert).
SLICES_ON_INSERT = """
CREATE FUNCTION grc_search_slices_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.slices IS NULL THEN
    NEW.slices := grc_search_slices(
      (SELECT start_at FROM exchanges WHERE id = NEW.exchange_id));
  END IF;
  RETURN NEW;
END $$
"""
SLICES_ON_START = """
CREATE FUNCTION grc_search_slices_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE exchange_search SET slices = grc_search_slices(NEW.start_at)
  WHERE exchange_id = NEW.id;
  RETURN NULL;
END $$
"""
# One statement per writing statement (a bulk import's batch, not each row).
TERMS_FUNCTION = """
CREATE FUNCTION grc_search_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO exchange_search_terms (term)
  SELECT DISTINCT unnest(tsvector_to_array(document)) FROM written
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$
"""

PG_UPGRADE = [
    SLICES_FUNCTION,
    SLICES_ON_INSERT,
    SLICES_ON_START,
    TERMS_FUNCTION,
    'CREATE TABLE exchange_search_terms (term text COLLATE "C" PRIMARY KEY)',
    # The backfill first, without indexes to maintain.
    "DROP INDEX ix_exchange_search_document",
    "DROP INDEX ix_exchange_search_title",
    "ALTER TABLE exchange_search ADD COLUMN slices tsvector",
    "UPDATE exchange_search s SET slices = grc_search_slices(e.start_at)"
    " FROM exchanges e WHERE e.id = s.exchange_id",
    "ALTER TABLE exchange_search ALTER COLUMN slices SET NOT NULL",
    "INSERT INTO exchange_search_terms (term)"
    " SELECT word FROM ts_stat('SELECT document FROM exchange_search')",
    "CREATE TRIGGER exchange_search_slices BEFORE INSERT ON exchange_search"
    " FOR EACH ROW EXECUTE FUNCTION grc_search_slices_insert()",
    "CREATE TRIGGER exchange_search_slices AFTER UPDATE OF start_at ON exchanges"
    " FOR EACH ROW WHEN (OLD.start_at IS DISTINCT FROM NEW.start_at)"
    " EXECUTE FUNCTION grc_search_slices_start()",
    "CREATE TRIGGER exchange_search_terms_insert AFTER INSERT ON exchange_search"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION grc_search_terms_add()",
    "CREATE TRIGGER exchange_search_terms_update AFTER UPDATE ON exchange_search"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION grc_search_terms_add()",
    # Also when a bulk import turns the foreign-key triggers off (session_replication_role).
    *(
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}"
        for table, trigger in (
            ("exchange_search", "exchange_search_slices"),
            ("exchanges", "exchange_search_slices"),
            ("exchange_search", "exchange_search_terms_insert"),
            ("exchange_search", "exchange_search_terms_update"),
        )
    ),
    f"CREATE INDEX ix_exchange_search_document ON exchange_search USING gin (({PG_DOCUMENT}))",
    f"CREATE INDEX ix_exchange_search_title ON exchange_search USING gin (({PG_TITLE}))",
    "ANALYZE exchange_search",
]

PG_DOWNGRADE = [
    "DROP TRIGGER exchange_search_terms_update ON exchange_search",
    "DROP TRIGGER exchange_search_terms_insert ON exchange_search",
    "DROP TRIGGER exchange_search_slices ON exchanges",
    "DROP TRIGGER exchange_search_slices ON exchange_search",
    "DROP INDEX ix_exchange_search_document",
    "DROP INDEX ix_exchange_search_title",
    "ALTER TABLE exchange_search DROP COLUMN slices",
    "DROP TABLE exchange_search_terms",
    "DROP FUNCTION grc_search_terms_add()",
    "DROP FUNCTION grc_search_slices_start()",
    "DROP FUNCTION grc_search_slices_insert()",
    "DROP FUNCTION grc_search_slices(timestamptz)",
    "CREATE INDEX ix_exchange_search_document ON exchange_search USING gin (document)",
    "CREATE INDEX ix_exchange_search_title ON exchange_search"
    " USING gin ((ts_filter(document, '{a,b}')))",
    "ANALYZE exchange_search",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWNGRADE:
            op.execute(statement)
