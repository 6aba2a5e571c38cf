"""Quick search: French-aware full text over subject, details, company and contact names.

User text never reaches the database as query syntax: it is cut into words (letters and
digits only) and quoted phrases, and the engine's query is assembled from those —
``"word"`` / ``"word"*`` / ``"two words"`` for FTS5, ``to_tsquery`` / ``phraseto_tsquery``
terms for PostgreSQL.  Quotes, operators, parentheses, ``*`` or a novel pasted by mistake
give a search, never a syntax error.  Both sides fold case, accents and ligatures
("echeance" finds "Échéance", "oeuvre" finds "œuvre") and stem French words with the same
Snowball stemmer ("contrats" finds "contrat", "relancé" finds "Relancer"): PostgreSQL in its
text search configuration, SQLite through the stemmed text GRC writes in its index (see
:mod:`grc_core.french_text`).  The last word is a prefix (type-ahead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, column, false, func, literal_column, select, table
from sqlalchemy.orm import Session

from grc_core.french_text import STOP_MARK, fold, query_stems, stem_word
from grc_core.french_text import words as folded_words
from grc_core.models import Company, Contact, Exchange, User, exchange_contacts
from grc_core.queries.exchanges import ExchangeFilter, filter_conditions
from grc_core.queries.history import TimelineEntry, build_entries, entry_select
from grc_core.visibility import visible_exchanges

MAX_INPUT = 500
MAX_TERMS = 12
MAX_WORD = 60
MAX_HITS = 100
#: How many of the newest matches are ranked (see :func:`search`).
SEARCH_WINDOW = 500

# The full-text tables are created by migration 0003, per database, outside the models.
_FTS5 = table("exchange_fts", column("rowid"), column("names"))
_PG_SEARCH = table("exchange_search", column("exchange_id"), column("names"), column("document"))

_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class SearchTerms:
    """What a search text asks for: words (all required), phrases, and a final prefix."""

    words: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    prefix: str | None = None

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases or self.prefix)


def parse(raw: str) -> SearchTerms:
    """Cut user text into safe terms (see the module docstring)."""
    if not isinstance(raw, str):
        return SearchTerms()
    text_ = raw[:MAX_INPUT]
    phrases: list[tuple[str, ...]] = []
    for found in _PHRASE.findall(text_):
        quoted = tuple(w[:MAX_WORD] for w in _WORD.findall(found))
        if len(quoted) > 1:
            phrases.append(quoted)
        elif quoted:  # a quoted single word is just a word
            text_ += " " + quoted[0] + " "
    rest = _PHRASE.sub(" ", text_)
    # One-letter words are French elisions (l', d', j') or noise: FTS5 would require them.
    words = [w[:MAX_WORD] for w in _WORD.findall(rest) if len(w) > 1 or w.isdigit()]
    prefix = None
    # Type-ahead: the word being typed (no space after it yet) matches as a prefix.
    if words and not rest.endswith((" ", "\t", "\n")) and rest.rstrip() == rest:
        prefix = words.pop()
    budget = MAX_TERMS - len(phrases[:MAX_TERMS])
    return SearchTerms(
        tuple(dict.fromkeys(words))[: max(budget - 1, 0)], tuple(phrases[:MAX_TERMS]), prefix
    )


def highlight(text: str, terms: SearchTerms, *, width: int = 12) -> str:
    """An extract of ``text`` around the first match, matched words in ``[ ]``.

    Words are compared case- and accent-folded; a term matches a word it begins (typed
    words are often shortened), like the index's prefix search, or a word of the same
    French stem ("contrats" marks "contrat").
    """
    wanted = [fold(w) for w in (*terms.words, *(w for p in terms.phrases for w in p))]
    if terms.prefix:
        wanted.append(fold(terms.prefix))
    stems = {stem_word(piece) for w in wanted for piece in folded_words(w)} - {None}

    def marks(token: str) -> bool:
        folded = fold(token)
        return any(folded.startswith(w) for w in wanted) or any(
            stem_word(piece) in stems for piece in folded_words(folded)
        )

    tokens = re.split(r"(\w+)", text)
    marked: list[str] = []
    first: int | None = None
    for token in tokens:
        if token and _WORD.fullmatch(token) and marks(token):
            if first is None:
                first = len(marked)
            marked.append(f"[{token}]")
        else:
            marked.append(token)
    if first is None:
        return " ".join(text.split()[:width])
    start = max(first - width, 0)
    extract = "".join(marked[start : first + 2 * width]).strip()
    return ("…" if start else "") + extract + ("…" if first + 2 * width < len(marked) else "")


@dataclass(frozen=True)
class SearchHit:
    """A matching exchange, its relevance (higher is better) and a highlighted extract."""

    entry: TimelineEntry
    rank: float
    snippet: str


def _fts5_phrase(text_: str) -> str | None:
    """The stems of ``text_`` as an FTS5 phrase (stop words held by their mark, as in the
    index), or ``None`` if it has only stop words — PostgreSQL then ignores it too."""
    stems = query_stems(text_)
    while stems and stems[0] is None:
        stems.pop(0)
    while stems and stems[-1] is None:
        stems.pop()
    if not stems:
        return None
    return '"' + " ".join(s or STOP_MARK for s in stems) + '"'


def _fts5_match(terms: SearchTerms) -> str | None:
    """The FTS5 query of ``terms`` over the stemmed index; ``None`` when nothing is left to
    look for (only stop words), which matches nothing, as on PostgreSQL."""
    parts = [_fts5_phrase(w) for w in terms.words]
    parts += [_fts5_phrase(" ".join(p)) for p in terms.phrases]
    if terms.prefix:
        # The beginning of a whole word or of a stem, or the stem of the word typed so far.
        pieces = folded_words(terms.prefix)
        if pieces:
            alternatives = ['"' + " ".join(pieces) + '"*']
            stemmed = _fts5_phrase(terms.prefix)
            if stemmed is not None:
                alternatives.append(stemmed)
            parts.append("(" + " OR ".join(alternatives) + ")")
    kept = [p for p in parts if p is not None]
    return " AND ".join(kept) if kept else None


# Text search configurations: constants, written into the SQL text.
_FRENCH: Any = literal_column("'grc_french'::regconfig")
_SIMPLE: Any = literal_column("'grc_simple'::regconfig")


def _word(text_: str) -> Any:
    # A bound parameter, so that every search shares one statement (parsed once, prepared by
    # psycopg).  A common word and a rare one need opposite plans (walk the newest rows vs.
    # use the GIN index): GRC's PostgreSQL connections plan each execution with its values
    # (plan_cache_mode = force_custom_plan, see grc_core.db), never with a generic plan.
    return bindparam(None, text_)


def _pg_query(terms: SearchTerms) -> Any:
    pieces: list[Any] = [func.to_tsquery(_FRENCH, _word(w)) for w in terms.words]
    pieces += [func.phraseto_tsquery(_FRENCH, _word(" ".join(p))) for p in terms.phrases]
    if terms.prefix:
        # The word being typed matches as the beginning of a word, or by its French stem
        # ("relances" finds "Relance", whose whole form it is not a prefix of).
        prefix = func.to_tsquery(_SIMPLE, _word(terms.prefix + ":*"))
        pieces.append(prefix.op("||")(func.to_tsquery(_FRENCH, _word(terms.prefix))))
    query = pieces[0]
    for piece in pieces[1:]:
        query = query.op("&&")(piece)
    return query


def _pg_highlight(terms: SearchTerms) -> Any:
    # Highlighting parses the text with the unstemmed configuration, so the words typed are
    # marked as prefixes of whole words ("echeance" marks "Échéance" and "échéances").
    words = [*terms.words, *(w for p in terms.phrases for w in p)]
    if terms.prefix:
        words.append(terms.prefix)
    return func.to_tsquery("grc_simple", " | ".join(f"{w}:*" for w in words))


def _candidates(terms: SearchTerms, postgresql: bool) -> tuple[Select[Any], Any]:
    """The newest matching exchanges with their relevance, before visibility and filters."""
    rank: Any
    match: Any
    if postgresql:
        document = _PG_SEARCH.c.document
        rank = func.ts_rank_cd(document, _pg_query(terms))
        source = _PG_SEARCH.join(Exchange, Exchange.id == _PG_SEARCH.c.exchange_id)
        match = document.op("@@")(_pg_query(terms))
    else:
        fts: Any = literal_column("exchange_fts")
        rank = -func.bm25(fts, 10.0, 1.0, 4.0)  # bm25 is lower-is-better
        source = _FTS5.join(Exchange, Exchange.id == _FTS5.c.rowid)
        query = _fts5_match(terms)
        match = fts.op("MATCH")(bindparam("match", query)) if query is not None else false()
    # Newest first by the full-text table's own key: FTS5 then reads its index backwards and
    # stops at the window instead of sorting every match.
    newest = _PG_SEARCH.c.exchange_id if postgresql else _FTS5.c.rowid
    stmt = select(Exchange.id.label("id"), rank.label("rank")).select_from(source).where(match)
    return stmt, newest


def _snippets(
    session: Session, terms: SearchTerms, ids: list[int], postgresql: bool
) -> dict[int, str]:
    if not ids:
        return {}
    if postgresql:
        # concat_ws skips the NULLs: empty details or no names leave no "— —" in extracts.
        parts = (Exchange.subject, Exchange.details, _PG_SEARCH.c.names)
        text_ = func.concat_ws(" — ", *(func.nullif(part, "") for part in parts))
        headline = func.ts_headline(
            "grc_simple", text_, _pg_highlight(terms),
            "StartSel=[, StopSel=], MaxFragments=1, MaxWords=18, MinWords=6",
        )  # fmt: skip
        stmt = (
            select(Exchange.id, headline)
            .select_from(_PG_SEARCH.join(Exchange, Exchange.id == _PG_SEARCH.c.exchange_id))
            .where(Exchange.id.in_(ids))
        )
    else:
        # FTS5's snippet() would evaluate the MATCH again over every matching row, and the
        # index holds stems; the few texts of a page are highlighted here instead, with the
        # same folding and stemming as the index.
        stmt = (
            select(Exchange.id, Exchange.subject, Exchange.details, Company.name)
            .outerjoin(Company, Company.id == Exchange.company_id)
            .where(Exchange.id.in_(ids))
        )
        people = (
            select(exchange_contacts.c.exchange_id, Contact.first_name, Contact.last_name)
            .join(Contact, Contact.id == exchange_contacts.c.contact_id)
            .where(exchange_contacts.c.exchange_id.in_(ids))
            .order_by(exchange_contacts.c.exchange_id, Contact.id)
        )
        names: dict[int, list[str]] = {}
        for ident, first, last in session.execute(people):
            names.setdefault(ident, []).append(" ".join(n for n in (first, last) if n))
        return {
            ident: highlight(" — ".join(t for t in (*texts, *names.get(ident, ())) if t), terms)
            for ident, *texts in session.execute(stmt)
        }
    return {ident: snippet for ident, snippet in session.execute(stmt)}


def search(
    session: Session,
    actor: User,
    raw: str,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 20,
) -> list[SearchHit]:
    """The exchanges ``actor`` may see that match ``raw``, best first.

    Relevance is ranked among the :data:`SEARCH_WINDOW` most recent matches that the actor
    may see and that pass the filters: ranking every match of a common word in years of
    history costs seconds, and a sales engineer looks for recent exchanges.  Combine with
    any filter of :class:`ExchangeFilter`.  Empty or word-less text gives no hit (not an
    error).
    """
    from grc_core.errors import ValidationError

    if not 1 <= limit <= MAX_HITS:
        raise ValidationError(f"limit must be between 1 and {MAX_HITS}, got {limit}", field="limit")
    terms = parse(raw)
    if not terms:
        return []
    postgresql = session.get_bind().dialect.name == "postgresql"
    candidates, newest = _candidates(terms, postgresql)
    window = (
        candidates.where(
            visible_exchanges(actor), *filter_conditions(session, flt or ExchangeFilter())
        )
        .order_by(newest.desc())
        .limit(bindparam(None, SEARCH_WINDOW, literal_execute=True))
        .subquery("candidates")
    )
    stmt = (
        entry_select(window.join(Exchange, Exchange.id == window.c.id), window.c.rank)
        .order_by(window.c.rank.desc(), Exchange.start_at.desc(), Exchange.id.desc())
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    entries = build_entries(session, rows)
    snippets = _snippets(session, terms, [e.id for e in entries], postgresql)
    return [
        SearchHit(entry, float(row.rank), snippets.get(entry.id, ""))
        for entry, row in zip(entries, rows, strict=True)
    ]
