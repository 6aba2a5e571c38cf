"""The grammar: what parses, and where and why what does not parse is refused."""

import pytest

from grc_core.errors import ValidationError
from grc_core.rules import RuleSyntaxError, compile_condition
from grc_core.rules.grammar import MAX_SOURCE, parse
from grc_core.rules.nodes import And, Constant, Or

VALID = [
    "exchange.action = 'todo' and exchange.status != 'done' and exchange.end < now() - 2d",
    "exchange.subject contains \"devis\" or exchange.details contains 'it\\'s'",
    "not (opportunity.stage in ['won', 'lost']) and opportunity.amount >= 10000.50",
    "exchange.medium is empty or exchange.medium not in ['phone', 'video']",
    "company.owner is not empty",
    "exchange.end + 1h < now()",
    "now() - 1w 2d > exchange.start",
    "exchange.start >= 2026-03-02 and exchange.start < 2026-03-02T18:30:00.5+01:00",
    "exchange.created > 2026-03-02T08:00Z",
    "custom.due <= today() + 3d and custom.seats > -2",
    "exchange.private",
    "not exchange.private",
    "true",
    "FALSE OR exchange.private",
    "event.kind in ['exchange.created', 'exchange.updated']",
    "# only a comment",
    "",
    "exchange.status = 'done' # a trailing comment\n  and exchange.private  # another\n",
    "(((exchange.private)))",
]


@pytest.mark.parametrize("source", VALID)
def test_valid_conditions_compile(source, catalogue):
    compile_condition(source, catalogue)


@pytest.mark.parametrize(
    ("source", "line", "column", "found", "expected"),
    [
        ("exchange.status = ", 1, 18, "the end of the condition", "a field or a value"),
        ("exchange.status == 'done'", 1, 18, "'='", "a field or a value"),
        ("exchange.subject = 'abc", 1, 20, "an unterminated string", "a field or a value"),
        (
            "exchange.action = 'todo'\nand exchange.status ! 'done'",
            2,
            21,
            "the character '!'",
            "a comparison (= != < <= > >=)",
        ),
        ("(exchange.private", 1, 18, "the end of the condition", "')'"),
        ("exchange.status in []", 1, 21, "']'", "a field or a value"),
        ("exchange.private and", 1, 21, "the end of the condition", "'not'"),
        ("exchange.subject = 'x' # note\n  and )", 2, 7, "')'", "'('"),
        ("exchange.end < now() - 2x", 1, 24, "the character '2'", "a field or a value"),
        ("exchange.private exchange.private", 1, 18, "a field 'exchange.private'", "'and'"),
        ("exchange.status in ['a' 'b']", 1, 25, "a string", "','"),
        ("exchange.subject = 'a#b' and # not here\n\n", 1, 29, "the end of", "'not'"),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(
    source, line, column, found, expected, catalogue
):
    with pytest.raises(RuleSyntaxError) as caught:
        compile_condition(source, catalogue)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert str(error).startswith(f"line {line}, column {column}: expected ")
    assert f"found {found}" in str(error)
    assert expected in error.expected


def test_a_syntax_error_is_a_validation_error_with_a_pointer(catalogue):
    with pytest.raises(ValidationError) as caught:
        compile_condition("exchange.private and\n  exchange.status ! 'x'", catalogue)
    assert caught.value.field == "condition"
    assert caught.value.pointer == "  exchange.status ! 'x'\n                  ^"


def test_the_expected_set_is_exact_not_lalr_approximate(catalogue):
    # LALR look-aheads would also offer ')' ',' ']' here; the interactive parser does not.
    with pytest.raises(RuleSyntaxError) as caught:
        compile_condition("exchange.private exchange.private", catalogue)
    assert "')'" not in caught.value.expected
    assert "','" not in caught.value.expected
    assert "the end of the condition" in caught.value.expected


def test_unknown_string_escape(catalogue):
    with pytest.raises(RuleSyntaxError, match=r"unknown escape \\q") as caught:
        compile_condition(r"exchange.subject = 'a\qb'", catalogue)
    assert (caught.value.line, caught.value.column) == (1, 22)


def test_string_escapes_are_decoded(catalogue):
    condition = compile_condition(r"exchange.subject = 'l\'a\\b\"c\n\t'", catalogue)
    assert condition.root.operand.literal == "l'a\\b\"c\n\t"


def test_keywords_are_whole_words_and_case_insensitive():
    # custom.android / custom.notary / custom.order / custom.isbn are fields, not keywords.
    tree = parse(
        "custom.android = 1 AND Not custom.notary = 2 oR custom.order In [1] or custom.isbn"
    )
    fields = [str(t) for t in tree.scan_values(lambda t: getattr(t, "type", "") == "FIELD")]
    assert fields == ["custom.android", "custom.notary", "custom.order", "custom.isbn"]


def test_empty_and_comment_only_conditions_always_hold(catalogue):
    for source in ("", "   ", "# nothing to check\n# really"):
        condition = compile_condition(source, catalogue)
        assert isinstance(condition.root, Constant)
        assert condition.root.truth is True


def test_and_binds_tighter_than_or(catalogue):
    root = compile_condition(
        "exchange.private or exchange.private and not exchange.private", catalogue
    ).root
    assert isinstance(root, Or)
    assert isinstance(root.parts[1], And)


def test_long_chains_are_flat_but_deep_nesting_is_refused(catalogue):
    chain = " and ".join(["exchange.private"] * 400)
    root = compile_condition(chain, catalogue).root
    assert isinstance(root, And) and len(root.parts) == 400
    with pytest.raises(RuleSyntaxError, match="nested more than 50 levels"):
        compile_condition("not " * 60 + "exchange.private", catalogue)
    # Redundant parentheses add no level; alternating and/or nesting does.
    compile_condition("(" * 200 + "exchange.private" + ")" * 200, catalogue)
    nested = "exchange.private"
    for level in range(60):
        nested = f"(exchange.private {'and' if level % 2 else 'or'} {nested})"
    with pytest.raises(RuleSyntaxError, match="nested more than 50 levels"):
        compile_condition(nested, catalogue)


def test_overlong_source_is_refused(catalogue):
    with pytest.raises(RuleSyntaxError, match=f"the limit is {MAX_SOURCE}"):
        compile_condition("exchange.private or " * 1000 + "exchange.private", catalogue)


def test_fractions_of_seconds_beyond_microseconds_do_not_lex(catalogue):
    with pytest.raises(RuleSyntaxError) as caught:
        compile_condition("exchange.start = 2026-03-02T10:00:00.1234567", catalogue)
    assert caught.value.line == 1


def test_long_arithmetic_chains_do_not_recurse(catalogue):
    source = "exchange.end < now()" + " - 1s" * 1900
    root = compile_condition(source, catalogue).root
    assert root.operand.delta.total_seconds() == -1900
