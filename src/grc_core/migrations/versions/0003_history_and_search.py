"""history and search: timeline index, full-text index, cursor key

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# French full text on PostgreSQL: the stock `french` configuration (Snowball stemmer, French
# stop words) with accents folded first, so "echeance" finds "Échéance".
PG_SEARCH_SETUP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION grc_french (COPY = french)",
    "ALTER TEXT SEARCH CONFIGURATION grc_french ALTER MAPPING FOR hword, hword_part, word "
    "WITH unaccent, french_stem",
    # Whole words, unstemmed: type-ahead prefixes ("paiem") must match "paiement", whose
    # French stem ("pai") they are not a prefix of.
    "CREATE TEXT SEARCH CONFIGURATION grc_simple (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION grc_simple ALTER MAPPING FOR hword, hword_part, word "
    "WITH unaccent, simple",
]


def _document(subject: str, names: str, details: str) -> str:
    """The weighted tsvector of one exchange (the same expression as grc_core.indexing)."""
    parts = [(subject, "A"), (names, "B"), (details, "C")]
    return " || ".join(
        f"setweight(to_tsvector('{config}', {expr}), '{weight}')"
        for expr, weight in parts
        for config in ("grc_french", "grc_simple")
    )


def upgrade() -> None:
    op.create_table(
        "exchange_timeline",
        sa.Column("scope", sa.String(length=1), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_timeline_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "scope", "scope_id", "start_at", "exchange_id", name=op.f("pk_exchange_timeline")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_exchange_timeline_exchange", "exchange_timeline", ["exchange_id"])
    # A user's history now reads the timeline index; this one only slowed every insert.
    with op.batch_alter_table("exchanges") as batch_op:
        batch_op.drop_index("ix_exchanges_author_start")
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cursor_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(
        sa.table("installation", sa.column("id", sa.Integer), sa.column("cursor_key", sa.String)),
        [{"id": 1, "cursor_key": secrets.token_hex(32)}],
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_SEARCH_SETUP:
            op.execute(statement)
        op.execute(
            "CREATE TABLE exchange_search ("
            " exchange_id integer PRIMARY KEY REFERENCES exchanges(id) ON DELETE CASCADE,"
            " names text NOT NULL DEFAULT '',"
            " document tsvector NOT NULL)"
        )
        op.execute(
            "CREATE INDEX ix_exchange_search_document ON exchange_search USING gin (document)"
        )
    else:
        # rowid = exchange id; FTS5 keeps its own copy of the text for snippets.
        op.execute(
            "CREATE VIRTUAL TABLE exchange_fts USING fts5("
            "subject, details, names, tokenize = 'unicode61 remove_diacritics 2')"
        )
    _backfill()


def _backfill() -> None:
    """Index the exchanges that exist before this revision (plain SQL of this revision)."""
    op.execute(
        "INSERT INTO exchange_timeline (scope, scope_id, start_at, exchange_id)"
        " SELECT 'c', company_id, start_at, id FROM exchanges WHERE company_id IS NOT NULL"
        " UNION SELECT 'c', o.company_id, e.start_at, e.id FROM exchanges e"
        "  JOIN exchange_opportunities eo ON eo.exchange_id = e.id"
        "  JOIN opportunities o ON o.id = eo.opportunity_id"
        " UNION SELECT 'c', ct.company_id, e.start_at, e.id FROM exchanges e"
        "  JOIN exchange_contacts ec ON ec.exchange_id = e.id"
        "  JOIN contacts ct ON ct.id = ec.contact_id"
        " UNION SELECT 'o', eo.opportunity_id, e.start_at, e.id FROM exchanges e"
        "  JOIN exchange_opportunities eo ON eo.exchange_id = e.id"
        " UNION SELECT 'u', author_id, start_at, id FROM exchanges"
        " UNION SELECT 'u', ea.user_id, e.start_at, e.id FROM exchanges e"
        "  JOIN exchange_assignees ea ON ea.exchange_id = e.id"
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    aggregate = "string_agg" if postgresql else "group_concat"
    names = (
        "trim(coalesce(c.name, '') || ' ' || coalesce((SELECT "
        f"{aggregate}(trim(ct.first_name || ' ' || ct.last_name), ' ')"
        " FROM exchange_contacts ec JOIN contacts ct ON ct.id = ec.contact_id"
        " WHERE ec.exchange_id = e.id), ''))"
    )
    source = " FROM exchanges e LEFT JOIN companies c ON c.id = e.company_id"
    if postgresql:
        op.execute(
            "INSERT INTO exchange_search (exchange_id, names, document)"
            f" SELECT e.id, {names}, {_document('e.subject', names, 'e.details')}" + source
        )
    else:
        op.execute(
            "INSERT INTO exchange_fts (rowid, subject, details, names)"
            f" SELECT e.id, e.subject, e.details, {names}" + source
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE exchange_search")
        op.execute("DROP TEXT SEARCH CONFIGURATION grc_french")
        op.execute("DROP TEXT SEARCH CONFIGURATION grc_simple")
    else:
        op.execute("DROP TABLE exchange_fts")
    op.drop_table("installation")
    with op.batch_alter_table("exchanges") as batch_op:
        batch_op.create_index("ix_exchanges_author_start", ["author_id", "start_at", "id"])
    op.drop_index("ix_exchange_timeline_exchange", table_name="exchange_timeline")
    op.drop_table("exchange_timeline")
