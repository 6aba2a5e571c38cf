"""initial schema and seed picklists

Revision ID: 0001
Revises:

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The seed's picklists (French and English labels); administrators add and retire values later.
SEED_PICKLISTS: dict[str, list[tuple[str, str, str, bool]]] = {
    "action": [
        ("todo", "À faire", "To do", False),
        ("call", "Appel", "Call", False),
        ("letter", "Courrier", "Letter", False),
        ("note", "Note", "Note", False),
        ("meeting", "RDV", "Meeting", False),
        ("report", "Compte rendu", "Report", False),
        ("email", "E-mail", "Email", False),
    ],
    "status": [
        ("planned", "Planifié", "Planned", False),
        ("in_progress", "En cours", "In progress", False),
        ("done", "Terminé", "Done", True),
        ("cancelled", "Annulé", "Cancelled", True),
    ],
    "medium": [
        ("phone", "Rendez-vous téléphonique", "Phone", False),
        ("on_site", "Rendez-vous physique", "On-site meeting", False),
        ("video", "Visioconférence", "Video", False),
        ("email", "E-mail", "Email", False),
        ("letter", "Courrier postal", "Letter", False),
    ],
    "stage": [
        ("prospecting", "Prospection", "Prospecting", False),
        ("qualification", "Qualification", "Qualification", False),
        ("proposal", "Proposition", "Proposal", False),
        ("negotiation", "Négociation", "Negotiation", False),
        ("won", "Gagnée", "Won", True),
        ("lost", "Perdue", "Lost", True),
    ],
}


def _seed_picklists() -> None:
    table = sa.table(
        "picklist_values",
        sa.column("kind", sa.String),
        sa.column("code", sa.String),
        sa.column("label_fr", sa.String),
        sa.column("label_en", sa.String),
        sa.column("position", sa.Integer),
        sa.column("active", sa.Boolean),
        sa.column("is_closed", sa.Boolean),
    )
    rows = [
        {
            "kind": kind,
            "code": code,
            "label_fr": fr,
            "label_en": en,
            "position": position,
            "active": True,
            "is_closed": closed,
        }
        for kind, values in SEED_PICKLISTS.items()
        for position, (code, fr, en, closed) in enumerate(values, start=1)
    ]
    op.bulk_insert(table, rows)


def upgrade() -> None:

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label_fr", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["categories.id"],
            name=op.f("fk_categories_parent_id_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_categories_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "entity",
            sa.Enum(
                "exchange",
                name="field_entity",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "text",
                "integer",
                "decimal",
                "date",
                "boolean",
                "choice",
                name="field_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("entity", "code", name=op.f("uq_custom_fields_entity_code")),
    )
    op.create_table(
        "picklist_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "action",
                "status",
                "medium",
                "stage",
                name="picklist_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label_fr", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_picklist_values")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_picklist_values_kind_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_users_external_ref")),
        sa.UniqueConstraint("login", name=op.f("uq_users_login")),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "client",
                "prospect",
                "suspect",
                name="company_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_companies_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_companies_external_ref")),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_companies_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_events_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_company", ["company_id", "id"], unique=False)
        batch_op.create_index("ix_events_entity", ["entity_type", "entity_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contacts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_contacts_external_ref")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_company_id"), ["company_id"], unique=False)

    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("status_id", sa.Integer(), nullable=False),
        sa.Column("medium_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("end_at >= start_at", name=op.f("ck_exchanges_end_after_start")),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["picklist_values.id"],
            name=op.f("fk_exchanges_action_id_picklist_values"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_exchanges_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_exchanges_category_id_categories")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_exchanges_company_id_companies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["medium_id"],
            ["picklist_values.id"],
            name=op.f("fk_exchanges_medium_id_picklist_values"),
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["picklist_values.id"],
            name=op.f("fk_exchanges_status_id_picklist_values"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("uuid", name=op.f("uq_exchanges_uuid")),
    )
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchanges_author_start", ["author_id", "start_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_exchanges_category_id"), ["category_id"], unique=False)
        batch_op.create_index(
            "ix_exchanges_company_start", ["company_id", "start_at", "id"], unique=False
        )
        batch_op.create_index("ix_exchanges_start", ["start_at", "id"], unique=False)

    op.create_table(
        "opportunities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_opportunities_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_opportunities_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["picklist_values.id"],
            name=op.f("fk_opportunities_stage_id_picklist_values"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunities")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_opportunities_external_ref")),
    )
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_opportunities_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_opportunities_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "exchange_assignees",
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_assignees_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_assignees_user_id_users")
        ),
        sa.PrimaryKeyConstraint("exchange_id", "user_id", name=op.f("pk_exchange_assignees")),
    )
    with op.batch_alter_table("exchange_assignees", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_assignees_user", ["user_id", "exchange_id"], unique=False
        )

    op.create_table(
        "exchange_contacts",
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_exchange_contacts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_contacts_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exchange_id", "contact_id", name=op.f("pk_exchange_contacts")),
    )
    with op.batch_alter_table("exchange_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_contacts_contact", ["contact_id", "exchange_id"], unique=False
        )

    op.create_table(
        "exchange_field_values",
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("text_value", sa.Text(), nullable=True),
        sa.Column("int_value", sa.Integer(), nullable=True),
        sa.Column("decimal_value", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("date_value", sa.Date(), nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_field_values_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["custom_fields.id"],
            name=op.f("fk_exchange_field_values_field_id_custom_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exchange_id", "field_id", name=op.f("pk_exchange_field_values")),
    )
    with op.batch_alter_table("exchange_field_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_field_values_field_date", ["field_id", "date_value"], unique=False
        )
        batch_op.create_index(
            "ix_exchange_field_values_field_number", ["field_id", "int_value"], unique=False
        )
        batch_op.create_index(
            "ix_exchange_field_values_field_text", ["field_id", "text_value"], unique=False
        )

    op.create_table(
        "exchange_opportunities",
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_opportunities_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_exchange_opportunities_opportunity_id_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "exchange_id", "opportunity_id", name=op.f("pk_exchange_opportunities")
        ),
    )
    with op.batch_alter_table("exchange_opportunities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_opportunities_opportunity", ["opportunity_id", "exchange_id"], unique=False
        )

    _seed_picklists()


def downgrade() -> None:

    with op.batch_alter_table("exchange_opportunities", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_opportunities_opportunity")

    op.drop_table("exchange_opportunities")
    with op.batch_alter_table("exchange_field_values", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_field_values_field_text")
        batch_op.drop_index("ix_exchange_field_values_field_number")
        batch_op.drop_index("ix_exchange_field_values_field_date")

    op.drop_table("exchange_field_values")
    with op.batch_alter_table("exchange_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_contacts_contact")

    op.drop_table("exchange_contacts")
    with op.batch_alter_table("exchange_assignees", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_assignees_user")

    op.drop_table("exchange_assignees")
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opportunities_owner_id"))
        batch_op.drop_index(batch_op.f("ix_opportunities_company_id"))

    op.drop_table("opportunities")
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_exchanges_start")
        batch_op.drop_index("ix_exchanges_company_start")
        batch_op.drop_index(batch_op.f("ix_exchanges_category_id"))
        batch_op.drop_index("ix_exchanges_author_start")

    op.drop_table("exchanges")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_company_id"))

    op.drop_table("contacts")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_events_kind"))
        batch_op.drop_index("ix_events_entity")
        batch_op.drop_index("ix_events_company")

    op.drop_table("events")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_companies_owner_id"))
        batch_op.drop_index(batch_op.f("ix_companies_name"))

    op.drop_table("companies")
    op.drop_table("users")
    op.drop_table("picklist_values")
    op.drop_table("custom_fields")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_categories_parent_id"))

    op.drop_table("categories")
