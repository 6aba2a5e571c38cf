"""attachment rules: virus scanning, inflation ratio, nested archives, active PDFs, image
pixels and metadata stripping

Revision ID: 0008
Revises: 0007

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    # "optional" on upgrade: a database that stored files without a scanner keeps working;
    # `grc attachment policy show` says plainly that nothing scans them.
    sa.Column("scanning", sa.String(length=16), server_default="optional", nullable=False),
    sa.Column("zip_max_ratio", sa.Integer(), server_default="100", nullable=False),
    sa.Column("allow_nested_archives", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("allow_active_pdf", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("max_image_pixels", sa.BigInteger(), server_default="100000000", nullable=False),
    sa.Column(
        "strip_image_metadata", sa.String(length=16), server_default="mobile", nullable=False
    ),
)


def upgrade() -> None:
    with op.batch_alter_table("attachment_policy", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.add_column(column)
        batch_op.create_check_constraint(
            "scanning_mode", "scanning IN ('required', 'optional', 'off')"
        )
        batch_op.create_check_constraint(
            "strip_mode", "strip_image_metadata IN ('always', 'mobile', 'never')"
        )


def downgrade() -> None:
    with op.batch_alter_table("attachment_policy", schema=None) as batch_op:
        batch_op.drop_constraint("strip_mode", type_="check")
        batch_op.drop_constraint("scanning_mode", type_="check")
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column.name)
