"""versions and provenance: optimistic-concurrency versions, exchange origin, parked rules,
event audience

Revision ID: 0005
Revises: 0004

"""

from __future__ import annotations

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


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("audience")
    with op.batch_alter_table("notification_rules") as batch_op:
        batch_op.drop_column("parked_reason")
        batch_op.drop_column("parked_at")
    with op.batch_alter_table("exchanges") as batch_op:
        batch_op.drop_column("origin")
    for table in reversed(VERSIONED_TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("version")
