"""The grammar of rule conditions and the parser (lark, LALR).

The grammar is LALR(1): parsing is linear, never backtracks, and lark's contextual lexer
reports exactly what it expected where it stopped.  Parsing only checks the *shape* of a
condition; :mod:`grc_core.rules.checker` then checks fields and types.

Keywords are case-insensitive and are whole words (``\\b``), so a custom field code such as
``custom.android`` or ``custom.notary`` is not mistaken for ``and`` or ``not``.  Field names
are dotted identifiers (``exchange.subject``); a name without a dot is still lexed as a field
so that the checker can answer "unknown field 'subject'; did you mean exchange.subject?".
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from grc_core.rules.errors import RuleSyntaxError

#: Longest condition accepted, in characters: a rule is a sentence, not a program.
MAX_SOURCE = 10_000

GRAMMAR = r"""
start: condition?

?condition: or_expr
?or_expr: and_expr
        | or_expr _OR and_expr            -> or_
?and_expr: not_expr
         | and_expr _AND not_expr         -> and_
?not_expr: _NOT not_expr                  -> not_
         | primary
?primary: "(" condition ")"
        | comparison

?comparison: sum COMPARATOR sum           -> compare
           | sum _IN list                 -> in_
           | sum _NOT _IN list            -> not_in
           | sum _CONTAINS sum            -> contains
           | sum _IS _EMPTY               -> is_empty
           | sum _IS _NOT _EMPTY          -> is_not_empty
           | sum                          -> bare

list: "[" sum ("," sum)* "]"

?sum: term
    | sum PLUS term                       -> arith
    | sum MINUS term                      -> arith
?term: FIELD                              -> field
     | STRING                             -> string
     | NUMBER                             -> number
     | MINUS NUMBER                       -> negative
     | DATETIME                           -> datetime
     | DATE                               -> date
     | DURATION+                          -> duration
     | _TRUE                              -> true
     | _FALSE                             -> false
     | _NOW "(" ")"                       -> now
     | _TODAY "(" ")"                     -> today

COMPARATOR: "<=" | ">=" | "!=" | "=" | "<" | ">"
PLUS: "+"
MINUS: "-"
_OR.9: /\bor\b/i
_AND.9: /\band\b/i
_NOT.9: /\bnot\b/i
_IN.9: /\bin\b/i
_CONTAINS.9: /\bcontains\b/i
_IS.9: /\bis\b/i
_EMPTY.9: /\bempty\b/i
_TRUE.9: /\btrue\b/i
_FALSE.9: /\bfalse\b/i
_NOW.9: /\bnow\b/i
_TODAY.9: /\btoday\b/i
FIELD: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/
DATETIME.5: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?(?![\w.:])/
DATE.4: /\d{4}-\d{2}-\d{2}(?![\w.:-])/
DURATION.3: /(\d+[wdhms])+(?![\w.])/
NUMBER.2: /\d+(\.\d+)?(?![\w.])/
STRING: /'(?:[^'\\\n]|\\.)*'/ | /"(?:[^"\\\n]|\\.)*"/
COMMENT: /#[^\n]*/

%import common.WS
%ignore WS
%ignore COMMENT
"""

#: How each terminal is named in "expected ..." messages.
_WORDS: dict[str, str] = {
    "FIELD": "a field",
    "STRING": "a string",
    "NUMBER": "a number",
    "DATE": "a date",
    "DATETIME": "a date-time",
    "DURATION": "a duration",
    "_TRUE": "'true'",
    "_FALSE": "'false'",
    "_NOW": "now()",
    "_TODAY": "today()",
    "MINUS": "'-'",
    "PLUS": "'+'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "_NOT": "'not'",
    "_AND": "'and'",
    "_OR": "'or'",
    "_IN": "'in'",
    "_CONTAINS": "'contains'",
    "_IS": "'is'",
    "_EMPTY": "'empty'",
    "COMPARATOR": "a comparison (= != < <= > >=)",
    "$END": "the end of the condition",
}

#: The terminals that start a value; listed together they are said in one phrase.
_VALUE_STARTS = frozenset(
    {"FIELD", "STRING", "NUMBER", "DATE", "DATETIME", "DURATION", "_TRUE", "_FALSE", "_NOW"}
)
_VALUE_PHRASE = "a field or a value"

#: The escapes a string literal may contain; any other backslash is an error.
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


@cache
def _parser() -> Lark:
    # Built once per process: LALR table construction is the slow part of lark.
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse(source: str) -> Tree[Token]:
    """Parse a condition into lark's tree, or raise :class:`RuleSyntaxError`.

    An empty condition (only blanks and comments) parses to a ``start`` tree without
    children: it means "always".
    """
    if len(source) > MAX_SOURCE:
        raise RuleSyntaxError(
            f"the condition is {len(source)} characters long; the limit is {MAX_SOURCE}",
            line=1,
            column=1,
            source=source,
        )
    if "\x00" in source:
        # PostgreSQL cannot store it, nor compare text with it: refused here, with a place.
        before = source[: source.index("\x00")]
        raise RuleSyntaxError(
            "the condition contains a NUL character (U+0000), which no text may hold",
            line=before.count("\n") + 1,
            column=len(before) - (before.rfind("\n") + 1) + 1,
            source=source,
        )
    try:
        return _parser().parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source) from None


def _end_position(source: str) -> tuple[int, int]:
    """Line and column just after the last character that is not a blank or a comment."""
    lines = source.split("\n")
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].split("#", 1)[0].rstrip()
        if text:
            return index + 1, len(text) + 1
    return 1, 1


def _expected(names: set[str] | frozenset[str]) -> tuple[str, ...]:
    words: list[str] = []
    if names >= _VALUE_STARTS:
        words.append(_VALUE_PHRASE)
        names = frozenset(names - _VALUE_STARTS - {"_TODAY", "MINUS"})
    words.extend(sorted({_WORDS.get(n, n.lower()) for n in names}))
    return tuple(words)


def _say(words: tuple[str, ...]) -> str:
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _accepted(exc: UnexpectedInput, fallback: set[str] | None) -> set[str]:
    """What the parser accepted where it stopped.

    LALR tables merge look-aheads of similar states, so the sets lark attaches to the error
    may list tokens that could not actually come next (a ``]`` outside any list).  Asking
    the interactive parser, positioned at the error, gives the exact set.
    """
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except Exception:  # pragma: no cover - fall back to lark's approximate set
            pass
    return set(fallback or ())


def _syntax_error(exc: UnexpectedInput, source: str) -> RuleSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        char = source[exc.pos_in_stream] if exc.pos_in_stream is not None else "?"
        expected = _expected(_accepted(exc, exc.allowed))
        if char in "'\"":
            found = f"an unterminated string (no closing {char} on this line)"
        else:
            found = f"the character {char!r}"
        message = f"expected {_say(expected)}, found {found}"
        return RuleSyntaxError(
            message, line=exc.line, column=exc.column, source=source, expected=expected
        )
    if isinstance(exc, UnexpectedToken):
        expected = _expected(_accepted(exc, exc.expected))
        token = exc.token
        if token.type == "$END":
            # lark's $END token borrows the position of the last real token: point just
            # after it (comments and blanks that follow are not where the error is).
            if token.end_line is not None and token.end_column is not None:
                line, column = token.end_line, token.end_column
            else:  # pragma: no cover - an empty text parses, so $END always has a token
                line, column = _end_position(source)
            found = "the end of the condition"
        else:
            line, column = token.line or 1, token.column or 1
            found = _describe(token)
        return RuleSyntaxError(
            f"expected {_say(expected)}, found {found}",
            line=line,
            column=column,
            source=source,
            expected=expected,
        )
    if isinstance(exc, UnexpectedEOF):  # pragma: no cover - LALR reports UnexpectedToken($END)
        line, column = _end_position(source)
        expected = _expected(set(exc.expected))
        return RuleSyntaxError(
            f"expected {_say(expected)}, found the end of the condition",
            line=line,
            column=column,
            source=source,
            expected=expected,
        )
    raise exc  # pragma: no cover - lark raises nothing else from parse()


def _describe(token: Token) -> str:
    kind = _WORDS.get(token.type)
    if token.type in {"FIELD", "STRING", "NUMBER", "DATE", "DATETIME", "DURATION"}:
        return f"{kind} {str(token)!r}" if kind else repr(str(token))
    return repr(str(token))


def decode_string(token: Token, source: str) -> str:
    """The value of a string literal token, with its escapes (``\\\\ \\' \\" \\n \\t``)."""
    body = str(token)[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            code = body[index + 1]
            if code not in _ESCAPES:
                raise RuleSyntaxError(
                    f"unknown escape \\{code} in a string; accepted: \\\\ \\' \\\" \\n \\t",
                    line=token.line or 1,
                    column=(token.column or 1) + 1 + index,
                    source=source,
                )
            out.append(_ESCAPES[code])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)
