"""Custom fields: typed definitions, validation on write, filters on both databases."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grc_core.errors import Conflict, PermissionDenied, ValidationError
from grc_core.models import CustomField, FieldType
from grc_core.queries.exchanges import ExchangeFilter, FieldCondition, list_exchanges
from grc_core.services import custom_fields, exchanges


@pytest.fixture
def fields(world, session):
    admin = world.admin
    custom_fields.define_field(session, admin, "budget", label="Budget", type="decimal")
    custom_fields.define_field(session, admin, "seats", label="Postes", type="integer")
    custom_fields.define_field(session, admin, "due", label="Échéance", type="date")
    custom_fields.define_field(session, admin, "urgent", label="Urgent", type="boolean")
    custom_fields.define_field(session, admin, "ref", label="Référence", type="text")
    custom_fields.define_field(
        session, admin, "channel", label="Canal", type="choice", choices=["web", "salon", "tel"]
    )


def create(world, custom, subject="Appel"):
    return exchanges.create_exchange(
        world.session, world.alice, subject=subject, start=world.at(), action="call", custom=custom
    )


def test_values_are_stored_in_their_type(world, session, fields):
    ex = create(
        world,
        {
            "budget": "1250,50",
            "seats": "12",
            "due": "2026-09-30",
            "urgent": "oui",
            "ref": "  DEV-42 ",
            "channel": "salon",
        },
    )
    session.expire_all()
    assert ex.custom == {
        "budget": Decimal("1250.500000"),
        "seats": 12,
        "due": date(2026, 9, 30),
        "urgent": True,
        "ref": "DEV-42",
        "channel": "salon",
    }


@pytest.mark.parametrize(
    ("code", "value", "message"),
    [
        ("seats", "douze", "expects integer"),
        ("seats", True, "expects integer"),
        ("seats", 2**40, "between"),
        ("budget", 1.5, "floats are inexact"),
        ("budget", "NaN", "finite"),
        ("due", "30/09/2026", "YYYY-MM-DD"),
        ("urgent", "peut-être", "true or false"),
        ("channel", "fax", "not a choice"),
        ("ref", 12, "expects text"),
        ("nope", "x", "unknown custom field 'nope'"),
    ],
)
def test_wrong_values_are_refused(world, fields, code, value, message):
    with pytest.raises(ValidationError, match=message):
        create(world, {code: value})


def test_required_field_must_be_given_on_creation(world, session, fields):
    custom_fields.define_field(
        session, world.admin, "source", label="Source", type="text", required=True
    )
    with pytest.raises(ValidationError, match="required custom fields missing: source"):
        create(world, {})
    ex = create(world, {"source": "salon"})
    with pytest.raises(ValidationError, match="required"):
        exchanges.update_exchange(session, world.alice, ex.id, custom={"source": None})


def test_update_sets_and_clears_values_and_is_audited(world, session, fields):
    ex = create(world, {"seats": 3})
    exchanges.update_exchange(session, world.alice, ex.id, custom={"seats": None, "urgent": True})
    assert ex.custom == {"urgent": True}


def test_retired_field_refuses_new_values_and_keeps_old(world, session, fields):
    ex = create(world, {"seats": 3})
    custom_fields.set_active(session, world.admin, "seats", False)
    assert ex.custom == {"seats": 3}
    with pytest.raises(ValidationError, match="retired"):
        create(world, {"seats": 4})


def test_definitions_are_checked(world, session):
    admin = world.admin
    with pytest.raises(ValidationError, match="unknown field type"):
        custom_fields.define_field(session, admin, "x", label="X", type="float")
    with pytest.raises(ValidationError, match="needs a list"):
        custom_fields.define_field(session, admin, "x", label="X", type="choice")
    with pytest.raises(ValidationError, match="only apply to choice"):
        custom_fields.define_field(session, admin, "x", label="X", type="text", choices=["a"])
    with pytest.raises(ValidationError, match="code"):
        custom_fields.define_field(session, admin, "Bad Code", label="X", type="text")
    with pytest.raises(PermissionDenied):
        custom_fields.define_field(session, world.alice, "x", label="X", type="text")
    custom_fields.define_field(session, admin, "x", label="X", type="text")
    with pytest.raises(Conflict):
        custom_fields.define_field(session, admin, "x", label="X", type="text")


def test_filters_on_custom_fields(world, session, fields):
    a = create(world, {"budget": "100", "due": "2026-01-10", "ref": "Alpha", "urgent": True}, "A")
    b = create(world, {"budget": "2500.75", "due": "2026-05-01", "ref": "Beta"}, "B")
    c = create(world, {"seats": 7}, "C")

    def ids(*conds, **eq):
        flt = ExchangeFilter(custom=tuple(conds)) if conds else ExchangeFilter(custom=eq)
        return {e.id for e in list_exchanges(session, world.alice, flt)}

    assert ids(urgent=True) == {a.id}
    assert ids(seats="7") == {c.id}
    assert ids(FieldCondition("budget", "gt", "1000")) == {b.id}
    assert ids(FieldCondition("budget", "le", "100")) == {a.id}
    assert ids(FieldCondition("due", "lt", "2026-03-01")) == {a.id}
    assert ids(FieldCondition("ref", "contains", "ET")) == {b.id}
    assert ids(FieldCondition("ref", "ne", "Alpha")) == {b.id}
    both = (FieldCondition("budget", "ge", "100"), FieldCondition("due", "ge", "2026-04-01"))
    assert ids(*both) == {b.id}
    with pytest.raises(ValidationError, match="unknown operator"):
        ids(FieldCondition("budget", "like", "1"))
    with pytest.raises(ValidationError, match="text fields only"):
        ids(FieldCondition("budget", "contains", "1"))


def _field(ftype: FieldType) -> CustomField:
    return CustomField(code="f", label="F", type=ftype, choices=["a", "b"])


@given(st.integers())
def test_integer_coercion_roundtrips_or_refuses(number):
    field = _field(FieldType.INTEGER)
    try:
        got = custom_fields.coerce(field, str(number))
    except ValidationError:
        assert not -(2**31) <= number <= 2**31 - 1
    else:
        assert got == number


@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_decimal_coercion_never_raises_anything_but_validation_error(value):
    field = _field(FieldType.DECIMAL)
    try:
        got = custom_fields.coerce(field, value)
    except ValidationError:
        assert not value.is_finite() or abs(value) >= Decimal("1e12")
    else:
        assert abs(got - value) <= Decimal("0.0000005")


@given(st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none(), st.dates()))
def test_every_type_accepts_or_refuses_cleanly(raw):
    for ftype in FieldType:
        try:
            custom_fields.coerce(_field(ftype), raw)
        except ValidationError as exc:
            assert exc.field == "f"
