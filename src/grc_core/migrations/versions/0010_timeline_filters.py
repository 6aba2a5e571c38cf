"""timeline filters: action, status and category on the timeline; choice values' timeline

Revision ID: 0010
Revises: 0009

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILTERS = ("action", "status", "category")


def upgrade() -> None:
    # Filtered histories walked a company's whole timeline until a page of matches turned
    # up (cost growing with the data); with the filtered column on the row and an index
    # per column, a filtered page is a range scan like an unfiltered one.
    for name in _FILTERS:
        op.add_column("exchange_timeline", sa.Column(f"{name}_id", sa.Integer(), nullable=True))
    # UPDATE ... FROM: PostgreSQL, and SQLite since 3.33.
    op.execute(
        "UPDATE exchange_timeline SET action_id = e.action_id, status_id = e.status_id,"
        " category_id = e.category_id FROM exchanges e WHERE e.id = exchange_timeline.exchange_id"
    )
    for name in _FILTERS:
        op.create_index(
            f"ix_exchange_timeline_{name}",
            "exchange_timeline",
            ["scope", "scope_id", f"{name}_id", "start_at", "exchange_id"],
        )
    op.create_table(
        "exchange_timeline_choices",
        sa.Column("scope", sa.String(length=1), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_timeline_choices_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "scope",
            "scope_id",
            "field_id",
            "value",
            "start_at",
            "exchange_id",
            name=op.f("pk_exchange_timeline_choices"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_exchange_timeline_choices_exchange", "exchange_timeline_choices", ["exchange_id"]
    )
    op.execute(
        "INSERT INTO exchange_timeline_choices"
        " (scope, scope_id, field_id, value, start_at, exchange_id)"
        " SELECT t.scope, t.scope_id, v.field_id, v.text_value, t.start_at, t.exchange_id"
        " FROM exchange_timeline t"
        " JOIN exchange_field_values v ON v.exchange_id = t.exchange_id"
        " JOIN custom_fields f ON f.id = v.field_id"
        " WHERE f.type = 'choice' AND v.text_value IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_timeline_choices_exchange", table_name="exchange_timeline_choices")
    op.drop_table("exchange_timeline_choices")
    for name in reversed(_FILTERS):
        op.drop_index(f"ix_exchange_timeline_{name}", table_name="exchange_timeline")
        # SQLite drops a column in place since 3.35 (no index uses it any more).
        op.drop_column("exchange_timeline", f"{name}_id")
