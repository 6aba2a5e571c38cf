"""What each user was entitled to read, word by word.

Every subject, detail text and attachment name the test writes carries a unique word
(``Zq<number><letters>``: digits make it collide with no French word, and a regular
expression finds it in any output).  After every step, each word that is *current* in an
exchange (in its subject, details or an attachment's name) becomes *allowed* for every user
entitled to that exchange at that moment — the exchange is shared, or the user is its author
or one of its assignees.  A word is *forbidden* to a user when it has been written and never
allowed to them: it was only ever in exchanges that user could not see at that moment.  Once
allowed, a word stays allowed (the user saw it legitimately).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WORD = re.compile(r"zq(\d+)[a-z]+", re.IGNORECASE)
_LETTERS = "bcdfghjkmnpqrstvwxz"


def word_for(number: int) -> str:
    """The planted word number ``number`` (``Zq12kt``)."""
    letters = _LETTERS[number % len(_LETTERS)] + _LETTERS[(number // 7) % len(_LETTERS)]
    return f"Zq{number}{letters}"


def words_in(text: str) -> set[int]:
    """The numbers of the planted words found in ``text``."""
    return {int(m.group(1)) for m in WORD.finditer(text)}


@dataclass
class ModelExchange:
    """What the test knows of one exchange it wrote."""

    key: str
    id: int
    author: str
    assignees: set[str]
    private: bool
    company: str | None
    opportunities: list[str]
    action: str
    subject_word: int
    details_word: int
    #: attachment id -> the word in its file name.
    attachments: dict[int, int] = field(default_factory=dict)
    done: bool = False
    deleted: bool = False

    def entitled(self, login: str) -> bool:
        """The visibility rule (administrators are not modelled: they see everything)."""
        return not self.private or login == self.author or login in self.assignees

    def current_words(self) -> set[int]:
        return {self.subject_word, self.details_word, *self.attachments.values()}

    def modifiers(self) -> list[str]:
        """Who may change it: its author, its assignees, an administrator."""
        return sorted({self.author, *self.assignees, "admin"})


@dataclass
class Entitlements:
    """Planted words, where they were planted, and who was allowed to read each."""

    users: tuple[str, ...]
    counter: int = 0
    #: word number -> the key of the exchange it was written into.
    origin: dict[int, str] = field(default_factory=dict)
    allowed: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.allowed = {u: set() for u in self.users}

    def plant(self, exchange_key: str) -> int:
        self.counter += 1
        self.origin[self.counter] = exchange_key
        return self.counter

    def observe(self, exchanges: list[ModelExchange]) -> None:
        """Record what is current now, and who may see it now."""
        for ex in exchanges:
            if ex.deleted:
                continue
            current = ex.current_words()
            for login in self.users:
                if ex.entitled(login):
                    self.allowed[login] |= current

    def forbidden(self, login: str) -> set[int]:
        return set(self.origin) - self.allowed[login]
