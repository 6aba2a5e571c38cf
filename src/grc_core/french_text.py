"""French text as search and name filters see it: folded, cut into words, stemmed.

PostgreSQL searches through its ``grc_french`` text search configuration (migration 0003):
each word is lower-cased, its accents removed by ``unaccent``, then reduced by the Snowball
French stemmer, French stop words dropped.  SQLite's FTS5 has no stemmer, so GRC writes the
index text of SQLite already processed the same way (:func:`index_text`) and turns the words
typed into the same stems (:func:`stem_word`): one French query finds the same exchanges on
both databases.  Name filters (``company list --name``) use :func:`fold` on both.

Nothing here touches a database; the indexing code and the queries both import it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

import snowballstemmer

#: Letters that Unicode does not decompose but ``unaccent`` spells out (ligatures, barred and
#: slashed letters): "oeuvre" finds "œuvre" and "Œuvre".
_SPELLED_OUT = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)

#: A word as both engines cut text: letters and digits (FTS5's unicode61 tokenizer and
#: PostgreSQL's parser split at ``_``, apostrophes, hyphens and punctuation).
WORD = re.compile(r"[^\W_]+")

#: French stop words, which PostgreSQL's French dictionary drops from documents and queries
#: (its ``french.stop`` list).  PostgreSQL compares them after ``unaccent``, so only the
#: unaccented ones can ever match ("été" or "à" are kept as words): those are listed here.
STOP_WORDS = frozenset(
    """
    au aux avec ce ces dans de des du elle en et eux il je la le leur lui ma mais me mes moi
    mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu
    un une vos votre vous c d j l m n s t y suis es est sommes sont serai seras sera serons
    serez seront serais serait serions seriez seraient fus fut furent sois soit soyons soyez
    soient fusse fusses fussions fussiez fussent ayant ayante ayantes ayants eu eue eues eus
    ai as avons avez ont aurai auras aura aurons aurez auront aurais aurait aurions auriez
    auraient avais avait avions aviez avaient eut eurent aie aies ait ayons ayez aient eusse
    eusses eussions eussiez eussent
    """.split()  # noqa: SIM905 - a list of words, read as prose
)

#: Written in SQLite's index in place of a stop word, so that a phrase keeps its word
#: positions ("signature du contrat" still finds "signature de contrat", as on PostgreSQL).
#: A private-use character: FTS5 indexes it as a word, and no typed word can ever be it.
STOP_MARK = "\ue000"
#: Between the stemmed and the whole words of one field, so that no phrase runs across.
PART_MARK = "\ue001"


def fold(text: str) -> str:
    """``text`` lower-cased, without accents, ligatures spelled out ("Œuvre" → "oeuvre")."""
    if text.isascii():
        return text.lower()
    text = text.casefold()
    # str.translate with a table is slow on non-ASCII text (~10 µs for a paragraph): only
    # when one of those letters is there.
    if _SPELLED_OUT_FOUND.search(text):
        text = text.translate(_SPELLED_OUT)
    decomposed = _LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text))
    # Other marks are looked for among the few non-ASCII characters left, not in every one.
    marks = {ch for ch in _NON_ASCII.findall(decomposed) if unicodedata.combining(ch)}
    if not marks:
        return decomposed
    return "".join(ch for ch in decomposed if ch not in marks)


_SPELLED_OUT_FOUND = re.compile("[" + "".join(chr(c) for c in _SPELLED_OUT) + "]")
#: The combining marks of the Latin accents block (the accents of French).
_LATIN_MARKS = re.compile(
    "[" + "".join(chr(c) for c in range(0x300, 0x370) if unicodedata.combining(chr(c))) + "]+"
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return WORD.findall(fold(text))


_local = threading.local()


def _stemmer() -> Any:
    # One per thread: a Snowball stemmer holds the word being stemmed in its own fields
    # while it works, so two threads sharing one (a web server's) could mix their words.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("french")
    return stemmer


@lru_cache(maxsize=65536)
def stem_word(word: str) -> str | None:
    """The French stem of a folded word, or ``None`` for a stop word.

    Words holding digits are kept whole ("a320", "2024"): PostgreSQL indexes them with its
    simple dictionary, not the stemmer.
    """
    if word in STOP_WORDS:
        return None
    if any(ch.isdigit() for ch in word):
        return word
    return str(_stemmer().stemWord(word))


def index_text(text: str) -> str:
    """What SQLite's full-text index stores for one field.

    The stems of the words (stop words replaced by :data:`STOP_MARK`), then
    :data:`PART_MARK`, then the whole folded words — PostgreSQL's document likewise holds
    the French and the unstemmed ("simple") form of each word.  A word typed matches by its
    stem; the word being typed matches as the beginning of a whole word or of a stem.
    """
    folded = words(text)
    if not folded:
        return ""
    stems = [stem_word(w) or STOP_MARK for w in folded]
    return " ".join([*stems, PART_MARK, *folded])


def query_stems(text: str) -> list[str | None]:
    """The stems of the words of ``text`` (``None`` for a stop word), as the index has them."""
    return [stem_word(w) for w in words(text)]
