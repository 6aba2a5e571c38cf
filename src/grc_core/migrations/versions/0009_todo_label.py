"""todo action: the seeded French label 'A faire' becomes 'À faire'

Revision ID: 0009
Revises: 0008

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_SEED = "A faire"
_NEW_SEED = "À faire"

_values = sa.table(
    "picklist_values",
    sa.column("kind", sa.String),
    sa.column("code", sa.String),
    sa.column("label_fr", sa.String),
)


def upgrade() -> None:
    # 0001 used to seed 'A faire'; it now seeds 'À faire', but databases created before keep
    # the old spelling. Only the untouched seed value is corrected: an administrator who
    # renamed the action chose that label, and it is theirs to keep.
    op.execute(
        _values.update()
        .where(
            _values.c.kind == "action",
            _values.c.code == "todo",
            _values.c.label_fr == _OLD_SEED,
        )
        .values(label_fr=_NEW_SEED)
    )


def downgrade() -> None:
    # Deliberately nothing: revision 0001 itself now seeds 'À faire', so the corrected label is
    # also what a database at 0008 holds. Writing 'A faire' back would make a downgraded
    # database differ from one created at 0008, and could not tell this migration's work from
    # an administrator who typed 'À faire' themselves.
    pass
