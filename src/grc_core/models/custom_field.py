"""Custom fields defined by an administrator at run time, and their typed values."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Versioned


class FieldType(enum.StrEnum):
    """The types a custom field may have."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class FieldEntity(enum.StrEnum):
    """The records custom fields can be defined on."""

    EXCHANGE = "exchange"


class CustomField(Versioned, Base):
    """The definition of one custom field."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("entity", "code"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[FieldEntity] = mapped_column(
        Enum(
            FieldEntity,
            name="field_entity",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=FieldEntity.EXCHANGE,
    )
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[FieldType] = mapped_column(
        Enum(
            FieldType,
            name="field_type",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    choices: Mapped[list[str] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ExchangeFieldValue(Base):
    """The value of one custom field on one exchange.

    One typed column per field type (only the one matching the field's type is set) keeps
    values comparable and indexable in SQL on SQLite and PostgreSQL alike.
    """

    __tablename__ = "exchange_field_values"
    __table_args__ = (
        Index("ix_exchange_field_values_field_text", "field_id", "text_value"),
        Index("ix_exchange_field_values_field_number", "field_id", "int_value"),
        Index("ix_exchange_field_values_field_date", "field_id", "date_value"),
    )

    exchange_id: Mapped[int] = mapped_column(
        ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True
    )
    text_value: Mapped[str | None] = mapped_column(Text)
    int_value: Mapped[int | None] = mapped_column(Integer)
    decimal_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    date_value: Mapped[date | None] = mapped_column(Date)
    bool_value: Mapped[bool | None] = mapped_column(Boolean)

    field: Mapped[CustomField] = relationship(lazy="joined")

    @property
    def value(self) -> Any:
        """The stored value, in the Python type of the field."""
        return getattr(self, VALUE_COLUMN[self.field.type])


#: The column of :class:`ExchangeFieldValue` that holds each field type.
VALUE_COLUMN: dict[FieldType, str] = {
    FieldType.TEXT: "text_value",
    FieldType.CHOICE: "text_value",
    FieldType.INTEGER: "int_value",
    FieldType.DECIMAL: "decimal_value",
    FieldType.DATE: "date_value",
    FieldType.BOOLEAN: "bool_value",
}
