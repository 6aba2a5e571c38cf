"""The errors of the rule condition language.

Both kinds say *where* (line and column, counted from 1, as an editor shows them) and
*what* was wrong; the message is complete on its own, because the CLI prints it as it is.
They derive from :class:`~grc_core.errors.ValidationError` (field ``"condition"``), so a
caller saving a rule treats a bad condition like any other refused input.
"""

from __future__ import annotations

from grc_core.errors import ValidationError


class RuleError(ValidationError):
    """A condition was refused; ``line`` and ``column`` locate the offending text.

    :param message: what is wrong (without the position, which is prefixed).
    :param line: 1-based line of the offending text.
    :param column: 1-based column of the offending text.
    :param source: the whole condition text, to show the offending line with a caret.
    """

    def __init__(self, message: str, *, line: int, column: int, source: str = "") -> None:
        super().__init__(f"line {line}, column {column}: {message}", field="condition")
        self.reason = message
        self.line = line
        self.column = column
        self.source = source

    @property
    def pointer(self) -> str:
        """The offending source line and a caret under the column (two lines), or ``""``."""
        lines = self.source.splitlines()
        if not 1 <= self.line <= len(lines):
            return ""
        text = lines[self.line - 1].expandtabs(1)
        return f"{text}\n{' ' * (self.column - 1)}^"


class RuleSyntaxError(RuleError):
    """The text is not a condition of the grammar.

    :param expected: what the parser would have accepted at that point, in words
        (``"a field"``, ``"')'"``…), sorted.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        source: str = "",
        expected: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, line=line, column=column, source=source)
        self.expected = expected


class RuleTypeError(RuleError):
    """The condition parses but names an unknown field, or mixes types that do not compare
    (text with a number, ``contains`` on a date, a date minus a text…)."""
