"""Evaluating conditions in Python, and explaining why they do not hold."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from grc_core.errors import ValidationError
from grc_core.rules import Context, compile_condition

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
TODO_RULE = "exchange.action = 'todo' and exchange.status != 'done' and exchange.end < now() - 2d"


def ctx(**values):
    """A context from keyword arguments: ``exchange__end=…`` is ``exchange.end``."""
    return Context(NOW, {k.replace("__", "."): v for k, v in values.items()}, exchange_id=7)


def holds(source, catalogue, **values):
    return compile_condition(source, catalogue).evaluate(ctx(**values))


def todo(end, status="planned"):
    return ctx(exchange__action="todo", exchange__status=status, exchange__end=end)


def test_the_overdue_todo_example(catalogue):
    rule = compile_condition(TODO_RULE, catalogue)
    assert rule.evaluate(todo(datetime(2026, 3, 3, 11, 59, tzinfo=UTC)))
    # exactly two days late is not *more* than two days late
    assert not rule.evaluate(todo(datetime(2026, 3, 3, 12, 0, tzinfo=UTC)))
    assert not rule.evaluate(todo(datetime(2026, 3, 1, tzinfo=UTC), status="done"))
    assert not rule.evaluate(
        ctx(exchange__action="call", exchange__status="planned", exchange__end=NOW)
    )


def test_explain_lists_only_the_failing_parts(catalogue):
    rule = compile_condition(TODO_RULE, catalogue)
    text = rule.explain(todo(datetime(2026, 3, 4, 9, 30, tzinfo=UTC)))
    assert text == (
        "the condition does not hold for exchange 7 (now() = 2026-03-05 12:00:00+00:00)\n"
        "- exchange.action = 'todo' and exchange.status != 'done' and exchange.e…"
        "  [line 1, column 1] is false: 1 of 3 fail\n"
        "  - exchange.end < now() - 2d  [line 1, column 60] is false: "
        "exchange.end is 2026-03-04 09:30:00+00:00; compared with 2026-03-03 12:00:00+00:00"
    )


def test_explain_a_negation_and_an_alternative(catalogue):
    rule = compile_condition(
        "not (opportunity.stage in ['won', 'lost'])\n or company.name contains 'globex'",
        catalogue,
    )
    text = rule.explain(ctx(opportunity__stage=("proposal", "won"), company__name="ACME"))
    assert text.splitlines()[1:] == [
        "- not (opportunity.stage in ['won', 'lost']) or company.name contains '…"
        "  [line 1, column 1] is false: no part holds",
        "  - not (opportunity.stage in ['won', 'lost'])  [line 1, column 1] is false: "
        "the negated part holds",
        "    - opportunity.stage in ['won', 'lost']  [line 1, column 6] is true: "
        "opportunity.stage is ['proposal', 'won']",
        "  - company.name contains 'globex'  [line 2, column 5] is false: company.name is 'ACME'",
    ]


def test_explain_when_the_condition_holds(catalogue):
    rule = compile_condition("exchange.private or custom.urgent", catalogue)
    lines = rule.explain(ctx(exchange__private=False, custom__urgent=True)).splitlines()
    assert lines[0].startswith("the condition holds for exchange 7")
    assert lines[-1] == "  - custom.urgent  [line 1, column 21] is true: custom.urgent is true"
    empty = compile_condition("", catalogue).explain(ctx())
    assert empty.splitlines()[1] == "- the condition is empty, which always holds"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a missing value passes no comparison, not even !=; `not` is the exact complement
        ("exchange.medium = 'phone'", False),
        ("exchange.medium != 'phone'", False),
        ("not exchange.medium = 'phone'", True),
        ("exchange.medium not in ['phone', 'video']", False),
        ("not exchange.medium in ['phone', 'video']", True),
        ("exchange.medium is empty", True),
        ("exchange.medium is not empty", False),
        ("not exchange.medium is empty", False),
        ("custom.urgent", False),
        ("not custom.urgent", True),
        ("custom.urgent = false", False),
        ("custom.seats < 0 or custom.seats >= 0", False),
        ("not (custom.seats < 0 or custom.seats >= 0)", True),
    ],
)
def test_missing_values_make_comparisons_false(source, expected, catalogue):
    assert holds(source, catalogue, exchange__medium=None) is expected


@pytest.mark.parametrize(
    ("source", "stages", "expected"),
    [
        ("opportunity.stage = 'won'", ("won", "proposal"), True),
        ("opportunity.stage != 'won'", ("won", "proposal"), True),  # proposal is not won
        ("opportunity.stage != 'won'", ("won",), False),
        ("not opportunity.stage = 'won'", ("won", "proposal"), False),  # none is won: no
        ("not opportunity.stage = 'won'", ("proposal",), True),
        ("opportunity.stage = 'won'", (), False),
        ("opportunity.stage != 'won'", (), False),
        ("not opportunity.stage = 'won'", (), True),
        ("opportunity.stage is empty", (), True),
        ("opportunity.stage is not empty", ("lost",), True),
        ("opportunity.stage not in ['won', 'lost']", ("won", "proposal"), True),
    ],
)
def test_to_many_fields_mean_some_linked_record(source, stages, expected, catalogue):
    assert holds(source, catalogue, opportunity__stage=stages) is expected


def test_to_many_is_empty_means_no_linked_value(catalogue):
    # Two opportunities, neither with an amount: "no amount" holds, "some amount" does not.
    amounts = (None, None)
    assert holds("opportunity.amount is empty", catalogue, opportunity__amount=amounts)
    assert not holds("opportunity.amount >= 0", catalogue, opportunity__amount=amounts)
    assert holds("opportunity.amount > 10", catalogue, opportunity__amount=(None, Decimal(11)))


@pytest.mark.parametrize(
    ("text", "needle", "expected"),
    [
        ("Devis ACME Corp", "acme", True),
        ("Devis ACME Corp", "ACME c", True),
        ("Devis", "", True),
        ("Élise Durand", "élise", False),  # only ASCII letters fold: É is not é
        ("Élise Durand", "Élise", True),
        ("ÉLISE", "Élise", True),  # the ASCII letters fold, É matches itself
        ("remise 50%", "0%", True),
        ("remise 50", "0%", False),
        ("a_c", "a_c", True),
        ("abc", "a_c", False),  # _ is a character, not a wildcard
    ],
)
def test_contains_ignores_ascii_case_only(text, needle, expected, catalogue):
    assert holds(f"exchange.subject contains '{needle}'", catalogue, exchange__subject=text) is (
        expected
    )


def test_text_is_ordered_by_code_point_and_equality_is_exact(catalogue):
    assert holds("company.name < 'a'", catalogue, company__name="Zebra")  # 'Z' < 'a'
    assert holds("company.name > 'z'", catalogue, company__name="Élise")  # 'É' > 'z'
    assert not holds("company.name = 'acme'", catalogue, company__name="ACME")


def test_numbers_compare_exactly_across_integers_and_decimals(catalogue):
    assert holds("custom.budget = 12.5", catalogue, custom__budget=Decimal("12.500000"))
    assert holds("custom.seats < 2.5", catalogue, custom__seats=2)
    assert holds("custom.seats in [1, 2.0]", catalogue, custom__seats=2)
    assert not holds("custom.budget > 0.3", catalogue, custom__budget=Decimal("0.3"))


def test_dates_and_durations(catalogue):
    assert holds("custom.due < today() + 1w", catalogue, custom__due=date(2026, 3, 11))
    assert not holds("custom.due - 1d >= today()", catalogue, custom__due=date(2026, 3, 5))
    assert holds(
        "exchange.start >= 2026-03-05", catalogue, exchange__start=datetime(2026, 3, 5, tzinfo=UTC)
    )
    assert holds(
        "exchange.end + 90m > now()",
        catalogue,
        exchange__end=datetime(2026, 3, 5, 10, 31, tzinfo=UTC),
    )


def test_event_fields(catalogue):
    rule = compile_condition("event.kind = 'exchange.created' and event.actor != 'bob'", catalogue)
    assert rule.evaluate(ctx(event__kind="exchange.created", event__actor="alice"))
    assert not rule.evaluate(ctx(event__kind="exchange.created", event__actor=None))
    assert not rule.evaluate(ctx())  # escalation-like context: no event at all


def test_contexts_need_an_aware_now():
    with pytest.raises(ValidationError, match="timezone-aware"):
        Context(datetime(2026, 3, 5, 12), {})
