"""global history indexes: exchanges linked to no company, by date and by filtered column

Revision ID: 0013
Revises: 0012

The global history (exchanges linked to no company, 5 % of them) had no index of its own: a
page walked every exchange back from the newest through ``ix_exchanges_start``, dropping the
95 % that belong to a company, and a filtered page (a rare action) walked until enough
matched (176 ms at a million exchanges on PostgreSQL).  Partial indexes over those exchanges
only, ``(start, id)`` and ``(action | status | category, start, id)``, are to the global
history what the timeline is to a company's: a page is a range scan of one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Index name -> its columns; each restricted to exchanges linked to no company.
INDEXES = {
    "ix_exchanges_global_start": ["start_at", "id"],
    "ix_exchanges_global_action": ["action_id", "start_at", "id"],
    "ix_exchanges_global_status": ["status_id", "start_at", "id"],
    "ix_exchanges_global_category": ["category_id", "start_at", "id"],
}


def upgrade() -> None:
    where = sa.text("company_id IS NULL")
    for name, columns in INDEXES.items():
        op.create_index(name, "exchanges", columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="exchanges")
