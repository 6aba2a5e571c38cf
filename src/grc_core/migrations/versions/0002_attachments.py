"""attachments

Revision ID: 0002
Revises: 0001

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: The policy a new installation starts with (R4: 20 MB, common office and image formats).
DEFAULT_EXTENSIONS = [
    "pdf", "jpg", "jpeg", "png", "gif", "txt", "csv", "eml",
    "docx", "xlsx", "pptx", "odt", "ods", "odp",
]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "attachment_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("max_size", sa.BigInteger(), nullable=False),
        sa.Column("allowed_extensions", sa.JSON(), nullable=False),
        sa.Column("allow_macros", sa.Boolean(), nullable=False),
        sa.Column("zip_max_entries", sa.Integer(), nullable=False),
        sa.Column("zip_max_uncompressed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_policy")),
    )
    op.create_table(
        "blob_deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=1024), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blob_deletions")),
        sa.UniqueConstraint(
            "backend", "storage_key", name=op.f("uq_blob_deletions_backend_storage_key")
        ),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("extension", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("core_key", sa.String(length=200), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=1024), nullable=False),
        sa.Column("moving_to", sa.String(length=64), nullable=True),
        sa.Column("moving_key", sa.String(length=1024), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(CASE WHEN exchange_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_attachments_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_attachments_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_attachments_company_id_companies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_attachments_exchange_id_exchanges"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_attachments_opportunity_id_opportunities"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint(
            "backend", "storage_key", name=op.f("uq_attachments_backend_storage_key")
        ),
        sa.UniqueConstraint("core_key", name=op.f("uq_attachments_core_key")),
        sa.UniqueConstraint("uuid", name=op.f("uq_attachments_uuid")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_company_id"), ["company_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_attachments_exchange_id"), ["exchange_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachments_opportunity_id"), ["opportunity_id"], unique=False
        )

    policy = sa.table(
        "attachment_policy",
        sa.column("id", sa.Integer),
        sa.column("max_size", sa.BigInteger),
        sa.column("allowed_extensions", sa.JSON),
        sa.column("allow_macros", sa.Boolean),
        sa.column("zip_max_entries", sa.Integer),
        sa.column("zip_max_uncompressed", sa.BigInteger),
    )
    op.bulk_insert(
        policy,
        [
            {
                "id": 1,
                "max_size": 20 * 1024 * 1024,
                "allowed_extensions": DEFAULT_EXTENSIONS,
                "allow_macros": False,
                "zip_max_entries": 2000,
                "zip_max_uncompressed": 200 * 1024 * 1024,
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_opportunity_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_exchange_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_company_id"))

    op.drop_table("attachments")
    op.drop_table("blob_deletions")
    op.drop_table("attachment_policy")
