"""Quick search: French-aware full text over subject, details, company and contact names.

User text never reaches the database as query syntax: it is cut into words (letters and
digits only) and quoted phrases, and the engine's query is assembled from those —
``"word"`` / ``"word"*`` / ``"two words"`` for FTS5, ``to_tsquery`` / ``phraseto_tsquery``
terms for PostgreSQL.  Quotes, operators, parentheses, ``*`` or a novel pasted by mistake
give a search, never a syntax error.  Both sides fold case and accents ("echeance" finds
"Échéance"); PostgreSQL also stems French words.  The last word is a prefix (type-ahead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, column, func, literal_column, table
from sqlalchemy.orm import Session

from grc_core.models import Exchange, User
from grc_core.queries.exchanges import ExchangeFilter, filter_conditions
from grc_core.queries.history import TimelineEntry, build_entries, entry_select
from grc_core.visibility import visible_exchanges

MAX_INPUT = 500
MAX_TERMS = 12
MAX_WORD = 60
MAX_HITS = 100

# The full-text tables are created by migration 0003, per database, outside the models.
_FTS5 = table("exchange_fts", column("rowid"))
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
    phrases = []
    for found in _PHRASE.findall(text_):
        words = tuple(w[:MAX_WORD] for w in _WORD.findall(found))
        if len(words) > 1:
            phrases.append(words)
        elif words:  # a quoted single word is just a word
            text_ += " " + words[0] + " "
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


@dataclass(frozen=True)
class SearchHit:
    """A matching exchange, its relevance (higher is better) and a highlighted extract."""

    entry: TimelineEntry
    rank: float
    snippet: str


def _fts5_match(terms: SearchTerms) -> str:
    parts = [f'"{w}"' for w in terms.words]
    parts += ['"' + " ".join(p) + '"' for p in terms.phrases]
    if terms.prefix:
        parts.append(f'"{terms.prefix}"*')
    return " AND ".join(parts)


def _sqlite_search(terms: SearchTerms) -> tuple[Select[Any], Any, Any]:
    fts = literal_column("exchange_fts")
    rank = -func.bm25(fts, 10.0, 1.0, 4.0)  # bm25 is lower-is-better
    snippet = func.snippet(fts, -1, "[", "]", "…", 12)
    source = _FTS5.join(Exchange, Exchange.id == _FTS5.c.rowid)
    stmt = entry_select(source, rank.label("rank"), snippet.label("snippet")).where(
        fts.op("MATCH")(bindparam("match", _fts5_match(terms)))
    )
    return stmt, rank, None


def _pg_query(terms: SearchTerms) -> Any:
    pieces = [func.to_tsquery("grc_french", w) for w in terms.words]
    pieces += [func.phraseto_tsquery("grc_french", " ".join(p)) for p in terms.phrases]
    if terms.prefix:
        pieces.append(func.to_tsquery("grc_simple", terms.prefix + ":*"))
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


def _pg_search(terms: SearchTerms) -> tuple[Select[Any], Any, Any]:
    document = literal_column("exchange_search.document")
    query = _pg_query(terms)
    rank = func.ts_rank_cd(document, query)
    snippet = func.ts_headline(
        "grc_simple",
        Exchange.subject
        + " — "
        + Exchange.details
        + " — "
        + literal_column("exchange_search.names"),
        _pg_highlight(terms),
        "StartSel=[, StopSel=], MaxFragments=1, MaxWords=18, MinWords=6",
    )
    source = _PG_SEARCH.join(Exchange, Exchange.id == _PG_SEARCH.c.exchange_id)
    stmt = entry_select(source, rank.label("rank"), snippet.label("snippet")).where(
        document.op("@@")(query)
    )
    return stmt, rank, query


def search(
    session: Session,
    actor: User,
    raw: str,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 20,
) -> list[SearchHit]:
    """The exchanges ``actor`` may see that match ``raw``, best first.

    Combine with any filter of :class:`ExchangeFilter`.  Empty or word-less text gives no
    hit (not an error).
    """
    from grc_core.errors import ValidationError

    if not 1 <= limit <= MAX_HITS:
        raise ValidationError(f"limit must be between 1 and {MAX_HITS}, got {limit}", field="limit")
    terms = parse(raw)
    if not terms:
        return []
    builder = _pg_search if session.get_bind().dialect.name == "postgresql" else _sqlite_search
    stmt, rank, _ = builder(terms)
    stmt = (
        stmt.where(visible_exchanges(actor), *filter_conditions(session, flt or ExchangeFilter()))
        .order_by(rank.desc(), Exchange.start_at.desc(), Exchange.id.desc())
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    entries = build_entries(session, rows)
    return [
        SearchHit(entry, float(row.rank), row.snippet)
        for entry, row in zip(entries, rows, strict=True)
    ]
