"""versions and provenance: optimistic-concurrency versions, exchange origin, parked rules,
event audience; ids never reused on SQLite

SQLite hands the largest rowid out again after it is deleted unless the table is declared
``AUTOINCREMENT``, which only ``CREATE TABLE`` can say: the tables whose ids other records
refer to are rebuilt, keeping their rows, constraints and indexes (the full-text table is
keyed by exchange id and needs nothing).  The rebuild drops and renames tables, so it runs
with foreign keys off (:func:`grc_core.schema.upgrade` turns them off around migrations and
checks every reference before committing).

Revision ID: 0005
Revises: 0004

"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every table of a mutable record: each gets an optimistic-concurrency ``version``.
VERSIONED_TABLES = (
    "exchanges",
    "companies",
    "contacts",
    "opportunities",
    "users",
    "picklist_values",
    "categories",
    "custom_fields",
    "notification_rules",
    "subscriptions",
    "notification_preferences",
)


#: Table -> the ``entity_type`` its events use: ids named by events stay retired too.
AUTOINCREMENT_TABLES: dict[str, str | None] = {
    "users": "user",
    "picklist_values": "picklist_value",
    "categories": "category",
    "custom_fields": "custom_field",
    "companies": "company",
    "contacts": "contact",
    "opportunities": "opportunity",
    "exchanges": "exchange",
    "attachments": "attachment",
    "blob_deletions": None,
    "events": None,
    "notification_rules": "rule",
    "subscriptions": "subscription",
    "deliveries": None,
    "inbox_items": None,
}


def upgrade() -> None:
    for table in VERSIONED_TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("version", sa.Integer(), nullable=False, server_default="1")
            )
    with op.batch_alter_table("exchanges") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.JSON(), nullable=True))
    with op.batch_alter_table("notification_rules") as batch_op:
        batch_op.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("parked_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("audience", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for table, entity_type in AUTOINCREMENT_TABLES.items():
            _rebuild_with_autoincrement(table, entity_type)


def _rebuild_with_autoincrement(table: str, entity_type: str | None) -> None:
    """Rebuild ``table`` as ``AUTOINCREMENT`` from its own stored definition.

    Editing the stored ``CREATE TABLE`` text (rather than re-creating the table from a model
    or from reflection) keeps every column, default, CHECK, UNIQUE and foreign key exactly
    as this database has them; the indexes are re-created from their stored text too
    (partial ones included).
    """
    conn = op.get_bind()
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "revision 0005 rebuilds SQLite tables and must run with foreign keys off: "
            "upgrade with `grc db upgrade` (grc_core.schema.upgrade)"
        )
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if "AUTOINCREMENT" in sql.upper():
        return
    new = f"_grc_new_{table}"
    rewritten, renamed = re.subn(
        rf'^CREATE TABLE\s+("?){re.escape(table)}\1\s*\(', f'CREATE TABLE "{new}" (', sql
    )
    rewritten, keyed = re.subn(
        r"^(CREATE TABLE [^(]*\(\s*)id INTEGER NOT NULL\s*,",
        r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,",
        rewritten,
    )
    rewritten, unnamed = re.subn(r",\s*CONSTRAINT \w+ PRIMARY KEY \(id\)", "", rewritten)
    if (renamed, keyed, unnamed) != (1, 1, 1):
        raise RuntimeError(f"unexpected definition of table {table}, not rebuilt: {sql}")
    extras = (
        conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ?"
            " AND sql IS NOT NULL ORDER BY type",
            (table,),
        )
        .scalars()
        .all()
    )
    columns = ", ".join(
        f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')
    )
    conn.exec_driver_sql(rewritten)
    conn.exec_driver_sql(f'INSERT INTO "{new}" ({columns}) SELECT {columns} FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for statement in extras:
        conn.exec_driver_sql(statement)
    # Ids deleted before this revision cannot all be known; those still named by audit
    # events (the ones notifications and the audit trail point at) are retired too.
    top = conn.exec_driver_sql(f'SELECT max(id) FROM "{table}"').scalar() or 0
    if entity_type is not None:
        named = conn.exec_driver_sql(
            "SELECT max(entity_id) FROM events WHERE entity_type = ?", (entity_type,)
        ).scalar()
        top = max(top, named or 0)
    if top:
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top))


def downgrade() -> None:
    # SQLite tables keep AUTOINCREMENT: it only makes the older code's ids safer.
    columns = [
        ("events", "audience"),
        ("notification_rules", "parked_reason"),
        ("notification_rules", "parked_at"),
        ("exchanges", "origin"),
        *((table, "version") for table in reversed(VERSIONED_TABLES)),
    ]
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in columns:
        if sqlite:
            # Native DROP COLUMN (none of these is indexed): no table rebuild, no data moved.
            op.get_bind().exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        else:
            op.drop_column(table, column)
