"""Custom fields: definitions managed by administrators, values checked on every write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, inspect, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.elements import ColumnElement

from grc_core.errors import Conflict, ValidationError
from grc_core.models import (
    CustomField,
    EventKind,
    Exchange,
    ExchangeFieldValue,
    FieldEntity,
    FieldType,
    User,
)
from grc_core.models.custom_field import VALUE_COLUMN
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.events import record_event
from grc_core.services.picklists import check_code
from grc_core.services.text import clean_line
from grc_core.services.users import require_admin

TEXT_MAX = 2000
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DECIMAL_LIMIT = Decimal("1e12")
TRUE_WORDS = {"true", "yes", "1", "oui", "vrai"}
FALSE_WORDS = {"false", "no", "0", "non", "faux"}


def list_fields(
    session: Session,
    entity: FieldEntity = FieldEntity.EXCHANGE,
    *,
    include_retired: bool = False,
) -> list[CustomField]:
    """Custom field definitions of ``entity``, by code."""
    stmt = select(CustomField).where(CustomField.entity == entity).order_by(CustomField.code)
    if not include_retired:
        stmt = stmt.where(CustomField.active.is_(True))
    return list(session.scalars(stmt))


def _required(entity: FieldEntity) -> ColumnElement[bool]:
    return and_(
        CustomField.entity == entity,
        CustomField.active.is_(True),
        CustomField.required.is_(True),
    )


def required_codes(session: Session, entity: FieldEntity = FieldEntity.EXCHANGE) -> list[str]:
    """The codes of the active required fields of ``entity``, by code."""
    stmt = select(CustomField.code).where(_required(entity)).order_by(CustomField.code)
    return list(session.scalars(stmt))


def required_count(entity: FieldEntity = FieldEntity.EXCHANGE) -> ColumnElement[int]:
    """How many active required fields ``entity`` has, as a scalar subquery: a creation reads
    it in the same round trip as its picklist values, and most catalogues require none."""
    return select(func.count()).select_from(CustomField).where(_required(entity)).scalar_subquery()


def get_field(
    session: Session, code: str, entity: FieldEntity = FieldEntity.EXCHANGE
) -> CustomField:
    """A field definition by code, retired or not."""
    field = session.scalar(
        select(CustomField).where(CustomField.entity == entity, CustomField.code == code)
    )
    if field is None:
        accepted = ", ".join(f.code for f in list_fields(session, entity)) or "none defined"
        raise ValidationError(f"unknown custom field {code!r}; accepted: {accepted}", field=code)
    return field


def define_field(
    session: Session,
    actor: User,
    code: str,
    *,
    label: str,
    type: FieldType | str,
    required: bool = False,
    choices: Sequence[str] | None = None,
    entity: FieldEntity = FieldEntity.EXCHANGE,
) -> CustomField:
    """Define a new custom field.  ``choices`` is required for, and only for, ``choice``."""
    require_admin(actor, "defining custom fields")
    code = check_code(code)
    try:
        field_type = FieldType(type)
    except ValueError:
        accepted = ", ".join(t.value for t in FieldType)
        raise ValidationError(f"unknown field type {type!r}; accepted: {accepted}") from None
    if field_type is FieldType.CHOICE:
        cleaned = [clean_line(c, "choice", 100) for c in (choices or [])]
        if not cleaned or len(set(cleaned)) != len(cleaned):
            raise ValidationError("a choice field needs a list of distinct, non-blank choices")
    elif choices:
        raise ValidationError(f"choices only apply to choice fields, not to {field_type.value}")
    else:
        cleaned = None
    existing = session.scalar(
        select(CustomField.id).where(CustomField.entity == entity, CustomField.code == code)
    )
    if existing is not None:
        raise Conflict(f"custom field {code!r} already exists")
    field = CustomField(
        entity=entity,
        code=code,
        label=clean_line(label, "label", 100),
        type=field_type,
        required=required,
        choices=cleaned,
        active=True,
    )
    session.add(field)
    session.flush()
    record_event(
        session,
        actor,
        EventKind.CUSTOM_FIELD_DEFINED,
        entity_type="custom_field",
        entity_id=field.id,
        company_id=None,
        changes={
            "entity": [None, entity],
            "code": [None, code],
            "label": [None, field.label],
            "type": [None, field_type],
            "required": [None, required],
            "choices": [None, cleaned],
        },
    )
    return field


def set_active(
    session: Session,
    actor: User,
    code: str,
    active: bool,
    *,
    expected_version: int | None = None,
) -> CustomField:
    """Retire or restore a field; stored values are kept and still shown.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing custom fields")
    field = get_field(session, code)
    field = lock_for_update(session, CustomField, field.id) or field
    check_version(field, expected_version, f"custom field {field.code!r}")
    if field.active == active:
        return field
    field.active = active
    with stale_as_conflict(field, f"custom field {field.code!r}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.CUSTOM_FIELD_UPDATED,
        entity_type="custom_field",
        entity_id=field.id,
        company_id=None,
        changes={"active": [not active, active]},
    )
    return field


def coerce(field: CustomField, raw: Any) -> Any:
    """Check ``raw`` against the field's type and return it in that type.

    Text forms (as typed on a command line) are accepted for every type: ``"42"``,
    ``"12.50"``, ``"2026-03-02"``, ``"true"``/``"oui"``.
    """
    ftype = field.type
    wrong = f"custom field {field.code!r} expects {ftype.value}"
    if ftype in (FieldType.TEXT, FieldType.CHOICE):
        if not isinstance(raw, str):
            raise ValidationError(f"{wrong}, got {type(raw).__name__}", field=field.code)
        if ftype is FieldType.CHOICE:
            if raw not in (field.choices or []):
                accepted = ", ".join(field.choices or [])
                raise ValidationError(
                    f"{raw!r} is not a choice of {field.code!r}; accepted: {accepted}",
                    field=field.code,
                )
            return raw
        return clean_line(raw, field.code, TEXT_MAX)
    if ftype is FieldType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValidationError(f"{wrong}, got {type(raw).__name__}", field=field.code)
        try:
            number = int(raw)
        except ValueError:
            raise ValidationError(f"{wrong}, got {raw!r}", field=field.code) from None
        if not INT_MIN <= number <= INT_MAX:
            raise ValidationError(
                f"{field.code!r} must lie between {INT_MIN} and {INT_MAX}", field=field.code
            )
        return number
    if ftype is FieldType.DECIMAL:
        if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
            raise ValidationError(
                f"{wrong} (give a Decimal, an int or a string; floats are inexact), "
                f"got {type(raw).__name__}",
                field=field.code,
            )
        try:
            decimal = Decimal(str(raw).strip().replace(",", "."))
        except InvalidOperation:
            raise ValidationError(f"{wrong}, got {raw!r}", field=field.code) from None
        if not decimal.is_finite() or abs(decimal) >= DECIMAL_LIMIT:
            raise ValidationError(
                f"{field.code!r} must be a finite number below {DECIMAL_LIMIT:,.0f}",
                field=field.code,
            )
        return decimal.quantize(Decimal("0.000001"))
    if ftype is FieldType.DATE:
        if isinstance(raw, datetime):
            raise ValidationError(f"{wrong} (a date, not a date-time)", field=field.code)
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw.strip())
            except ValueError:
                pass
        raise ValidationError(f"{wrong} as YYYY-MM-DD, got {raw!r}", field=field.code)
    if ftype is FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return raw.strip().lower() in TRUE_WORDS
        raise ValidationError(f"{wrong} (true or false), got {raw!r}", field=field.code)
    raise AssertionError(f"unhandled field type {ftype}")  # pragma: no cover


def validate_values(
    session: Session,
    values: Mapping[str, Any],
    *,
    creating: bool,
    required: Sequence[str] | None = None,
) -> dict[CustomField, Any]:
    """Check a ``{code: value}`` mapping; ``None`` clears a value.

    On creation every required active field must be given.  Retired fields cannot receive
    new values.

    :param required: the codes of the required fields when the caller has just read them
        in the same transaction (see :func:`required_count`); read here otherwise.
    """
    checked: dict[CustomField, Any] = {}
    for code, raw in values.items():
        field = get_field(session, code)
        if not field.active:
            raise ValidationError(f"custom field {code!r} is retired", field=code)
        if raw is None:
            if field.required:
                raise ValidationError(f"custom field {code!r} is required", field=code)
            checked[field] = None
        else:
            checked[field] = coerce(field, raw)
    if creating:
        # Only the codes of the required fields are needed (one light query, no entities):
        # most creations carry no custom values and most catalogues require none.
        given = {f.code for f, v in checked.items() if v is not None}
        codes = required_codes(session) if required is None else required
        missing = [code for code in codes if code not in given]
        if missing:
            raise ValidationError(
                f"required custom fields missing: {', '.join(missing)}", field=missing[0]
            )
    return checked


def apply_values(exchange: Exchange, values: Mapping[CustomField, Any]) -> None:
    """Store checked values on ``exchange`` (set, replace or clear).

    A new exchange gets its values with its own INSERT.  On a stored one each value is
    written at once as an upsert (``INSERT ... ON CONFLICT DO UPDATE``, both databases): two
    transactions setting the same not-yet-set field can never collide on the primary key,
    whatever locks their callers took; the exchange's loaded values are then re-read.
    """
    session = object_session(exchange)
    state = inspect(exchange)
    if session is None or not state.persistent:
        _apply_in_memory(exchange, values)
        return
    columns = sorted(set(VALUE_COLUMN.values()))
    table = cast(Table, ExchangeFieldValue.__table__)
    for field, value in values.items():
        if value is None:
            session.execute(
                delete(table).where(
                    table.c.exchange_id == exchange.id, table.c.field_id == field.id
                )
            )
            continue
        row = dict.fromkeys(columns) | {VALUE_COLUMN[field.type]: value}
        upsert: Any = sqlite_insert
        if session.get_bind().dialect.name == "postgresql":
            # Imported here: the PostgreSQL dialect is not loaded by every command on SQLite.
            from sqlalchemy.dialects.postgresql import insert as upsert
        stmt = upsert(table).values(exchange_id=exchange.id, field_id=field.id, **row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.exchange_id, table.c.field_id],
            set_={name: stmt.excluded[name] for name in columns},
        )
        session.execute(stmt)
    # The rows changed behind the ORM's back: forget what it had loaded.
    for loaded in exchange.field_values:
        session.expire(loaded)
    session.expire(exchange, ["field_values"])


def _apply_in_memory(exchange: Exchange, values: Mapping[CustomField, Any]) -> None:
    by_field = {fv.field_id: fv for fv in exchange.field_values}
    for field, value in values.items():
        current = by_field.get(field.id)
        if value is None:
            if current is not None:
                exchange.field_values.remove(current)
            continue
        if current is None:
            current = ExchangeFieldValue(field_id=field.id, field=field)
            exchange.field_values.append(current)
        setattr(current, VALUE_COLUMN[field.type], value)


def update_field(
    session: Session,
    actor: User,
    code: str,
    *,
    label: str | None = None,
    required: bool | None = None,
    choices: Sequence[str] | None = None,
    expected_version: int | None = None,
) -> CustomField:
    """Relabel a field, make it required or optional, or change a choice field's choices.

    Arguments left ``None`` are unchanged; the code and the type never change (stored values
    depend on them).  Making a field required applies to the exchanges recorded from now on.
    A choice taken away stays on the exchanges that already carry it, and cannot be given to
    new values (as a retired picklist value).

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing custom fields")
    field = get_field(session, code)
    field = lock_for_update(session, CustomField, field.id) or field
    name = f"custom field {field.code!r}"
    check_version(field, expected_version, name)
    changes: dict[str, list[object]] = {}
    if label is not None:
        cleaned = clean_line(label, "label", 100)
        if cleaned != field.label:
            changes["label"] = [field.label, cleaned]
            field.label = cleaned
    if required is not None and required != field.required:
        changes["required"] = [field.required, required]
        field.required = required
    if choices is not None:
        if field.type is not FieldType.CHOICE:
            raise ValidationError(
                f"choices only apply to choice fields, not to {field.type.value}",
                field="choices",
            )
        new = [clean_line(c, "choice", 100) for c in choices]
        if not new or len(set(new)) != len(new):
            raise ValidationError(
                "a choice field needs a list of distinct, non-blank choices", field="choices"
            )
        if new != list(field.choices or []):
            changes["choices"] = [list(field.choices or []), new]
            field.choices = new
    if not changes:
        return field
    with stale_as_conflict(field, name):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.CUSTOM_FIELD_UPDATED,
        entity_type="custom_field",
        entity_id=field.id,
        company_id=None,
        changes=changes,
    )
    return field
