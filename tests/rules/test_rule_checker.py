"""The checker: unknown fields and codes, type mismatches and unsupported arithmetic are
refused when the rule is saved, with the line and column of the offending text."""

from datetime import UTC, datetime, timedelta

import pytest

from grc_core.rules import Catalogue, RuleTypeError, compile_condition
from grc_core.rules.nodes import Compare, Literal, Not, Now, Shifted

ERRORS = [
    # unknown fields, with suggestions
    (
        "exchange.subjet = 'x'",
        1,
        1,
        "unknown field 'exchange.subjet'; did you mean exchange.subject",
    ),
    ("subject = 'x'", 1, 1, "unknown field 'subject'; did you mean exchange.subject?"),
    ("company.nmae = 'x'", 1, 1, "did you mean company.name"),
    ("foo.bar = 1", 1, 1, "fields start with exchange., company., opportunity., custom. or event."),
    (
        "custom.nope = 1",
        1,
        1,
        "unknown custom field 'nope'; accepted: budget, channel, due, ref, seats, urgent",
    ),
    # unknown codes
    ("exchange.status = 'dnoe'", 1, 19, "'dnoe' is not a status code of exchange.status"),
    ("exchange.action in ['todo', 'cal']", 1, 29, "'cal' is not an action code"),
    ("custom.channel = 'fax'", 1, 18, "'fax' is not a choice of custom.channel"),
    ("company.status = 'lead'", 1, 18, "accepted: client, prospect, suspect"),
    ("event.kind = 'exchange.create'", 1, 14, "is not an event kind of event.kind"),
    ("exchange.category = 'sales'", 1, 21, "accepted: commercial, support"),
    # type mismatches
    ("exchange.subject = 3", 1, 20, "cannot compare exchange.subject (text) with 3 (a number)"),
    ("exchange.private = 'yes'", 1, 20, "cannot compare exchange.private (boolean) with 'yes'"),
    ("custom.budget = 2026-01-01", 1, 17, "cannot compare custom.budget (number) with 2026-01-01"),
    ("custom.seats in [1, 'two']", 1, 21, "cannot compare custom.seats (number) with 'two'"),
    ("custom.due < now()", 1, 14, "custom.due is a date: compare it with a date or today()"),
    (
        "custom.seats contains '3'",
        1,
        1,
        "'contains' applies to text fields; custom.seats is a number",
    ),
    ("exchange.status contains 'do'", 1, 1, "exchange.status is a code (use = or in for codes)"),
    ("exchange.subject contains 3", 1, 27, "'contains' needs a text to look for, not 3 (a number)"),
    ("exchange.status < 'done'", 1, 1, "exchange.status is a code: it takes =, !=, in and not in"),
    ("custom.urgent > true", 1, 1, "custom.urgent is a boolean"),
    ("exchange.subject", 1, 1, "exchange.subject (text) is not a condition"),
    ("'x'", 1, 1, "'x' (a text) is not a condition"),
    # arithmetic
    ("exchange.end - 'x' < now()", 1, 14, "cannot subtract 'x' (a text) from exchange.end"),
    ("custom.seats + 1 > 3", 1, 14, "cannot add 1 (a number) to custom.seats (number)"),
    ("custom.due + 3h < today()", 1, 14, "custom.due is a date: add or subtract whole days"),
    ("exchange.end > 1d - now()", 1, 19, "cannot subtract now() (a date-time) from the duration"),
    ("exchange.subject + 1d = 'x'", 1, 18, "only dates and date-times take durations"),
    ("exchange.end < 2d", 1, 16, "a duration (2d) is not a value to compare"),
    ("exchange.end + 1h is empty", 1, 1, "arithmetic on a field is only allowed in a comparison"),
    ("exchange.end < now() - 40000d", 1, 24, "durations are limited to 36600d"),
    ("exchange.start > 0001-01-01 - 1d", 1, 18, "0001-01-01 - 1d falls outside the calendar"),
    # shape of comparisons
    ("now() - 2d < now()", 1, 1, "a comparison needs a field on one side"),
    ("exchange.start < exchange.end", 1, 1, "compare a field with a value, not with another field"),
    (
        "exchange.status in ['done', exchange.action]",
        1,
        29,
        "an 'in' list holds values, not fields",
    ),
    ("3 in [1]", 1, 1, "'in' needs a field on its left"),
    # literals
    ("exchange.start = 2026-02-30", 1, 18, "2026-02-30 is not a valid date"),
    ("exchange.start = 2026-02-03T25:00", 1, 18, "is not a valid date-time"),
    ("custom.seats = 1234567890123456", 1, 16, "at most 15 significant digits"),
    # positions on later lines
    ("exchange.private\n  and custom.seats\n    = 'x'", 3, 7, "cannot compare custom.seats"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), ERRORS)
def test_type_errors_say_where_and_why(source, line, column, message, catalogue):
    with pytest.raises(RuleTypeError) as caught:
        compile_condition(source, catalogue)
    error = caught.value
    assert message in error.reason, error.reason
    assert (error.line, error.column) == (line, column)
    assert str(error) == f"line {line}, column {column}: {error.reason}"
    assert error.field == "condition"


def test_event_fields_are_refused_in_escalations(catalogue):
    source = "exchange.private and event.kind = 'exchange.created'"
    assert compile_condition(source, catalogue).uses_event
    with pytest.raises(RuleTypeError, match="an escalation rule has no triggering event") as caught:
        compile_condition(source, catalogue, escalation=True)
    assert (caught.value.line, caught.value.column) == (1, 22)


def test_codes_are_not_checked_without_known_codes():
    # A catalogue built without a database knows no picklist codes: it accepts any.
    compile_condition("exchange.status = 'whatever'", Catalogue())


def test_retired_custom_fields_stay_usable(catalogue):
    # Values of a retired field are still stored; a rule may still test them.
    from grc_core.models import FieldType
    from grc_core.rules import CustomFieldInfo

    old = Catalogue([CustomFieldInfo(id=9, code="old", type=FieldType.TEXT, active=False)])
    assert "retired" in old.get("custom.old").description
    compile_condition("custom.old is not empty", old)


def test_arithmetic_on_the_field_moves_to_the_constant(catalogue):
    root = compile_condition("exchange.end + 1h < now() - 2d", catalogue).root
    assert isinstance(root, Compare)
    assert root.field.name == "exchange.end" and root.op == "<"
    assert isinstance(root.operand, Shifted)
    now = datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert root.operand.value(now) == now - timedelta(days=2, hours=1)


def test_a_constant_on_the_left_is_flipped(catalogue):
    root = compile_condition("now() - 2d > exchange.end", catalogue).root
    assert isinstance(root, Compare)
    assert (root.field.name, root.op) == ("exchange.end", "<")


def test_literal_arithmetic_is_folded_when_saved(catalogue):
    root = compile_condition("exchange.start >= 2026-03-02T00:00 + 1w - 12h", catalogue).root
    assert isinstance(root.operand, Literal)
    assert root.operand.literal == datetime(2026, 3, 8, 12, tzinfo=UTC)


def test_durations_add_up_and_commute(catalogue):
    root = compile_condition("exchange.end < 1d + now() - 2h 30m", catalogue).root
    now = datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert isinstance(root.operand, Shifted) and isinstance(root.operand.base, Now)
    assert root.operand.value(now) == now + timedelta(hours=21, minutes=30)


def test_dates_compared_with_date_times_mean_midnight_utc(catalogue):
    root = compile_condition("exchange.start < today()", catalogue).root
    now = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert root.operand.value(now) == datetime(2026, 3, 5, tzinfo=UTC)


def test_date_times_without_offset_are_utc_and_offsets_are_honoured(catalogue):
    naive = compile_condition("exchange.start = 2026-03-02T10:00", catalogue).root
    paris = compile_condition("exchange.start = 2026-03-02T10:00+01:00", catalogue).root
    assert naive.operand.literal == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert paris.operand.literal == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_string_literals_are_nfc_like_stored_texts(catalogue):
    decomposed = "e\u0301"  # "é" typed as e + combining acute accent
    root = compile_condition(f"exchange.subject = '{decomposed}'", catalogue).root
    assert root.operand.literal == "\u00e9"


def test_numbers_are_exact(catalogue):
    from decimal import Decimal

    root = compile_condition("custom.budget = 0.1", catalogue).root
    assert root.operand.literal == Decimal("0.1")
    assert compile_condition("custom.seats > -3", catalogue).root.operand.literal == -3


def test_bare_booleans_and_fields_used(catalogue):
    condition = compile_condition(
        "not exchange.private and custom.urgent and opportunity.stage = 'won'", catalogue
    )
    first = condition.root.parts[0]
    assert isinstance(first, Not) and isinstance(first.part, Compare)
    assert condition.fields == {"exchange.private", "custom.urgent", "opportunity.stage"}
    assert not condition.uses_event
