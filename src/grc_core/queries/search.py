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

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from grc_core.errors import ValidationError
from grc_core.french_text import STOP_MARK, fold, query_stems, stem_word
from grc_core.french_text import words as folded_words
from grc_core.models import Contact, Exchange, User, exchange_contacts
from grc_core.queries.exchanges import ExchangeFilter, filter_conditions
from grc_core.queries.history import TimelineEntry, build_entries, entry_select
from grc_core.timeutil import require_aware
from grc_core.visibility import visible_exchanges, visible_to_user

MAX_INPUT = 500
MAX_TERMS = 12
MAX_WORD = 60
MAX_HITS = 100
#: How many of the most recent matches each window ranks (see :func:`search`).
SEARCH_WINDOW = 500

# The full-text tables are created by migrations 0003 and 0011, outside the models.
_PG_SEARCH = table(
    "exchange_search", column("exchange_id"), column("names"), column("document"), column("slices")
)

_WORD = re.compile(r"\w+", re.UNICODE)
_SPLIT = re.compile(r"(\w+)", re.UNICODE)
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


def _matcher(terms: SearchTerms) -> Callable[[str], bool]:
    """Whether a word of a text is one of ``terms`` (see :func:`highlight`), remembered per
    word: the texts of a page repeat their words."""
    wanted = [fold(w) for w in (*terms.words, *(w for p in terms.phrases for w in p))]
    if terms.prefix:
        wanted.append(fold(terms.prefix))
    stems = {stem_word(piece) for w in wanted for piece in folded_words(w)} - {None}
    seen: dict[str, bool] = {}

    def marks(token: str) -> bool:
        found = seen.get(token)
        if found is None:
            folded = fold(token)
            found = seen[token] = any(folded.startswith(w) for w in wanted) or any(
                stem_word(piece) in stems for piece in folded_words(folded)
            )
        return found

    return marks


def highlight(
    text: str,
    terms: SearchTerms,
    *,
    width: int = 12,
    marks: Callable[[str], bool] | None = None,
) -> str:
    """An extract of ``text`` around the first match, matched words in ``[ ]``.

    Words are compared case- and accent-folded; a term matches a word it begins (typed
    words are often shortened), like the index's prefix search, or a word of the same
    French stem ("contrats" marks "contrat").  ``marks``: a :func:`_matcher` of ``terms``
    shared by the texts of a page.
    """
    marks = marks or _matcher(terms)
    # Separators at even positions, words at odd ones.
    marked = _SPLIT.split(text)
    first: int | None = None
    for i in range(1, len(marked), 2):
        if first is not None and i >= first + 2 * width:
            break  # past the extract
        if marks(marked[i]):
            if first is None:
                first = i
            marked[i] = f"[{marked[i]}]"
    if first is None:
        return " ".join(text.split()[:width])
    start = max(first - width, 0)
    extract = "".join(marked[start : first + 2 * width]).strip()
    return ("…" if start else "") + extract + ("…" if first + 2 * width < len(marked) else "")


@dataclass(frozen=True)
class SearchHit:
    """A matching exchange, its rank (higher is better, see :func:`search`) and a
    highlighted extract."""

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


#: At most this many indexed words complete a typed prefix; beyond, FTS5's own prefix search.
MAX_COMPLETIONS = 64
_COMPLETIONS = text(
    "SELECT term FROM exchange_fts_terms WHERE term >= :low AND term < :high ORDER BY term LIMIT :n"
)


def _completions(session: Session, prefix: str) -> list[str] | None:
    """The indexed words beginning with ``prefix`` (SQLite), or ``None`` if there are more
    than :data:`MAX_COMPLETIONS`.

    FTS5 answers a prefix by merging the postings of every word it covers before returning
    the first row — all of them, for a prefix of a word in half the exchanges; a few exact
    words are read newest first and stop at the window instead.
    """
    # Words compare as UTF-8 bytes, i.e. by code point: the highest one closes the range.
    found = session.execute(
        _COMPLETIONS,
        {"low": prefix, "high": prefix + "\U0010ffff", "n": MAX_COMPLETIONS + 1},
    ).scalars()
    words = list(found)
    return words if len(words) <= MAX_COMPLETIONS else None


def _fts5_match(
    terms: SearchTerms, complete: Callable[[str], list[str] | None] = lambda _: None
) -> str | None:
    """The FTS5 query of ``terms`` over the stemmed index; ``None`` when nothing is left to
    look for (only stop words) or the prefix completes to no indexed word, which matches
    nothing, as on PostgreSQL.  ``complete`` gives the indexed words a prefix completes to
    (``None``: too many, FTS5's prefix search instead)."""
    parts = [_fts5_phrase(w) for w in terms.words]
    parts += [_fts5_phrase(" ".join(p)) for p in terms.phrases]
    kept = [p for p in parts if p is not None]
    if terms.prefix:
        # The beginning of a whole word or of a stem, or the stem of the word typed so far.
        pieces = folded_words(terms.prefix)
        if pieces:
            head = " ".join([*pieces[:-1], ""])
            words = complete(pieces[-1])
            if words is None:
                alternatives = ['"' + " ".join(pieces) + '"*']
            else:
                alternatives = [f'"{head}{word}"' for word in words]
            stemmed = _fts5_phrase(terms.prefix)
            if stemmed is not None and stemmed not in alternatives:
                alternatives.append(stemmed)
            if not alternatives:
                return None
            kept.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(kept) if kept else None


# Text search configurations: constants, written into the SQL text.
_FRENCH: Any = literal_column("'grc_french'::regconfig")
_TSQUERY: Any = TSQUERY()
_SIMPLE: Any = literal_column("'grc_simple'::regconfig")


def _pg_query(terms: SearchTerms, completed: bool) -> Any:
    """The tsquery of terms of this shape, the words as named parameters (see
    :func:`_pg_values`): every search of a shape shares one statement text.  A common word
    and a rare one need different plans: GRC's PostgreSQL connections plan each execution
    with its values, never with a generic plan (see grc_core.db).

    :param completed: the word being typed was completed into indexed words (see
        :func:`_pg_completions`), passed as one tsquery of alternatives."""
    pieces: list[Any] = [
        func.to_tsquery(_FRENCH, bindparam(f"w{i}")) for i in range(len(terms.words))
    ]
    pieces += [
        func.phraseto_tsquery(_FRENCH, bindparam(f"ph{i}")) for i in range(len(terms.phrases))
    ]
    if terms.prefix:
        # The word being typed matches as the beginning of a word, or by its French stem
        # ("relances" finds "Relance", whose whole form it is not a prefix of).
        if completed:
            start: Any = cast(bindparam("prefix_words", type_=String), _TSQUERY)
        else:
            start = func.to_tsquery(_SIMPLE, bindparam("prefix_start"))
        pieces.append(start.op("||")(func.to_tsquery(_FRENCH, bindparam("prefix"))))
    query = pieces[0]
    for piece in pieces[1:]:
        query = query.op("&&")(piece)
    return query


def _pg_values(terms: SearchTerms) -> dict[str, str]:
    values = {f"w{i}": w for i, w in enumerate(terms.words)}
    values |= {f"ph{i}": " ".join(p) for i, p in enumerate(terms.phrases)}
    if terms.prefix:
        values |= {"prefix_start": terms.prefix + ":*", "prefix": terms.prefix}
    return values


#: The indexed words (migration 0012) that begin with the word being typed, as the simple
#: configuration writes it (case and accents folded); none if it is not one plain word.
_PG_COMPLETIONS = text(
    "SELECT t.term FROM exchange_search_terms t,"
    " (SELECT tsvector_to_array(to_tsvector('grc_simple', :prefix)) AS a,"
    " numnode(to_tsquery('grc_simple', :prefix_start)) AS n) p"
    ' WHERE p.n = 1 AND cardinality(p.a) = 1 AND t.term >= p.a[1] COLLATE "C"'
    ' AND t.term < (p.a[1] || chr(1114111)) COLLATE "C" ORDER BY t.term LIMIT :n'
)


def _tsquery_lexeme(word: str) -> str:
    """``word`` quoted as one lexeme of a tsquery's text form."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_completions(session: Session, terms: SearchTerms) -> str | None:
    """The indexed words the typed prefix completes to, as a tsquery of alternatives, or
    ``None`` (none, more than :data:`MAX_COMPLETIONS`, or not a plain word): the prefix
    search instead.  GIN answers a prefix by reading every posting of every word it
    covers, whatever else the search asks; exact words are intersected, skipping."""
    found = session.execute(
        _PG_COMPLETIONS,
        {"prefix": terms.prefix, "prefix_start": f"{terms.prefix}:*", "n": MAX_COMPLETIONS + 1},
    ).scalars()
    words = list(found)
    if not words or len(words) > MAX_COMPLETIONS:
        return None
    return " | ".join(_tsquery_lexeme(w) for w in words)


def _pg_highlight(terms: SearchTerms) -> Any:
    # Highlighting parses the text with the unstemmed configuration, so the words typed are
    # marked as prefixes of whole words ("echeance" marks "Échéance" and "échéances").
    words = [*terms.words, *(w for p in terms.phrases for w in p)]
    if terms.prefix:
        words.append(terms.prefix)
    return func.to_tsquery("grc_simple", " | ".join(f"{w}:*" for w in words))


#: The rank of a hit in the subject-and-names window, and of one in the other (as SQL).
_RANKS = {1: "1.0", 0: "0.5"}
#: SQLite's search key (migration 0011): start minute * 2**31 + exchange id.
_ID_BITS = 31
_ID_MASK = (1 << _ID_BITS) - 1
#: PostgreSQL's date blocks (migration 0012): lexemes ``"~k.n"``, block n of 4**k UTC days
#: since 1970, for k below this.
SLICE_LEVELS = 8
#: Each slice of PostgreSQL's walk covers this many times the days of the previous one.
SLICE_GROWTH = 8
#: The walk by blocks covers the newest days up to this many; the older exchanges are
#: searched in one piece (see :func:`_pg_statement`).
SLICED_DAYS = 64
#: The slice number of the older exchanges, after every slice of the walk.
_LAST_SLICE = 1000
_DAY = 86400


def _search_key_minute(when: datetime) -> int:
    """The start minute of a search key, as migration 0011 computes it (floored)."""
    return math.floor(require_aware(when, "date").timestamp()) // 60


def _key_values(flt: ExchangeFilter) -> dict[str, int]:
    """SQLite's search key range implied by the filter's dates (one minute wider; the exact
    dates are filtered on the exchange), so that FTS5 reads only the matches of the period."""
    values = {}
    if flt.since is not None:
        values["key_low"] = (_search_key_minute(flt.since) - 1) << _ID_BITS
    if flt.until is not None:
        values["key_high"] = (_search_key_minute(flt.until) + 1) << _ID_BITS
    return values


def _day(when: datetime) -> int:
    """The UTC day of ``when`` since 1970 (floored), as migration 0012 counts it."""
    return math.floor(when.timestamp()) // _DAY


def slice_blocks(low: int, high: int) -> list[str]:
    """The lexemes of the fewest aligned blocks (migration 0012) covering the days
    ``[low, high)``, largest first from the newest end."""
    blocks: list[str] = []
    while low < high:
        level = SLICE_LEVELS - 1
        while level and (high % (1 << 2 * level) or high - (1 << 2 * level) < low):
            level -= 1
        high -= 1 << 2 * level
        blocks.append(f"~{level}.{high >> 2 * level}")
    return blocks


def day_slices(first: int, last: int) -> Iterator[tuple[int, int]]:
    """Day ranges ``[low, high)`` from the newest day ``last`` back to ``first``: one day,
    then each :data:`SLICE_GROWTH` times longer than the days already read."""
    high, span = last + 1, 1
    while high > first:
        low = max(high - span, first)
        yield low, high
        span = (last + 1 - low) * (SLICE_GROWTH - 1)
        high = low


def _windows(
    terms: SearchTerms,
    conditions: list[Any],
    flt: ExchangeFilter,
    postgresql: bool,
    tiers: tuple[int, ...] = (1, 0),
    completed: bool = False,
    blocks: Any = None,
) -> list[Select[Any]]:
    """The windows of candidates (see :func:`search`): the most recent exchanges whose
    subject and names match (tier 1), then the most recent matches anywhere (tier 0), each
    with its score; on PostgreSQL, within the date blocks ``blocks`` (a tsquery)."""
    selects: list[Select[Any]] = []
    for tier in tiers:
        window: Any = bindparam(f"window{tier}", type_=Integer, literal_execute=True)
        if postgresql:
            document = _PG_SEARCH.c.document
            searched = func.ts_filter(document, literal_column("'{a,b}'")) if tier else document
            # Both GIN indexes hold the words and the date blocks in one tsvector (migration
            # 0012): GIN intersects them from the rarest, skipping through the postings of
            # common words, and the few matches of the slice are sorted.  OFFSET 0 keeps the
            # planner from walking ix_exchanges_start instead, testing each exchange (all of
            # them when two words seldom meet).
            indexed = searched.op("||")(_PG_SEARCH.c.slices)
            query = _pg_query(terms, completed)
            matched = select(_PG_SEARCH.c.exchange_id).offset(literal_column("0"))
            bounds: list[Any] = []
            if blocks is None:  # the older exchanges: no blocks, a date bound
                found: Any = matched.where(indexed.op("@@")(query)).subquery(f"older{tier}")
                bounds.append(Exchange.start_at < bindparam("older", type_=Exchange.start_at.type))
            else:
                found = (
                    # A query of stop words only is empty: it would leave the blocks alone,
                    # matching every exchange of the slice.
                    matched.where(func.numnode(query) > 0)
                    .where(indexed.op("@@")(query.op("&&")(blocks)))
                    .correlate(blocks.table)
                    .lateral(f"matches{tier}")
                )
            source = found.join(Exchange, Exchange.id == found.c.exchange_id)
            match = true()
            newest: list[Any] = [Exchange.start_at.desc(), Exchange.id.desc()]
        else:
            name = "exchange_fts_title" if tier else "exchange_fts"
            fts: Any = literal_column(name)
            rowid: Any = literal_column(f"{name}.rowid")
            source = table(name).join(Exchange, Exchange.id == rowid.op("&")(_ID_MASK))
            match = fts.op("MATCH")(bindparam("match"))
            # The key sorts like (start minute, id): FTS5 reads its index backwards, newest
            # first, and stops at the window instead of sorting every match.
            newest = [rowid.desc()]
            bounds = []
            if flt.since is not None:
                bounds.append(rowid >= bindparam("key_low"))
            if flt.until is not None:
                bounds.append(rowid < bindparam("key_high"))
        # No relevance function: FTS5's bm25 reads every posting of each word to weigh it
        # (a word in half the rows: tens of milliseconds at a million), and within a window
        # every candidate holds every word.  The subject and names tell the relevance.
        score: Any = literal_column(_RANKS[tier])
        selects.append(
            select(
                Exchange.id.label("id"), Exchange.start_at.label("start_at"), score.label("score")
            )
            .select_from(source)
            .where(match, *bounds, *conditions)
            .order_by(*newest)
            .limit(window)
        )
    return selects


def _sqlite_statement(terms: SearchTerms, conditions: list[Any], flt: ExchangeFilter) -> Any:
    """The ids and ranks of the best hits on SQLite, both windows in one statement.  The
    page's columns are read by a second statement (:data:`_ENTRIES`)."""
    candidates = union_all(
        *(w.subquery().select() for w in _windows(terms, conditions, flt, False))
    ).subquery("candidates")
    return (
        select(candidates.c.id, candidates.c.score)
        .order_by(candidates.c.score.desc(), candidates.c.start_at.desc(), candidates.c.id.desc())
        # An exchange in both windows comes twice, its subject-or-names row first.
        .limit(bindparam("rows", type_=Integer, literal_execute=True))
    )


def _pg_statement(
    terms: SearchTerms, conditions: list[Any], flt: ExchangeFilter, completed: bool, older: bool
) -> Any:
    """The most recent hits of both windows on PostgreSQL (ids, start, rank, slice number),
    read slice of dates by slice of dates (array parameter ``slices``, newest first; see
    :func:`day_slices`) until each window is full: a slice's hits come by date, and the
    LIMIT over the slices stops the nested loop, so older slices are never read once the
    window is full.  Then, if ``older``, the exchanges before parameter ``older`` in one
    piece: the blocks of months or years hold more exchanges than a word does, and GIN
    would decode their postings for every candidate.  The subject-and-names hits rank
    first: their window may read every slice, unless the other window is not full: then it
    holds every match, and the subject-and-names hits are among them (a search whose words
    never meet reads the whole table once, not twice)."""
    walks: dict[int, Any] = {}
    for tier in (0, 1):
        slices: Any = (
            func.unnest(cast(bindparam("slices", type_=ARRAY(String)), ARRAY(_TSQUERY)))
            .table_valued("blocks", with_ordinality="n")
            .render_derived(name=f"slices{tier}")
        )
        (window,) = _windows(terms, conditions, flt, True, (tier,), completed, slices.c.blocks)
        hits = window.lateral(f"hits{tier}")
        size: Any = bindparam(f"window{tier}", type_=Integer, literal_execute=True)
        walk: Any = (
            select(hits.c.id, hits.c.start_at, hits.c.score, slices.c.n)
            .select_from(slices.join(hits, true()))
            .limit(size)
        )
        if older:
            (rest,) = _windows(terms, conditions, flt, True, (tier,), completed)
            rest_hits = rest.subquery(f"rest{tier}")
            last: Any = literal_column(str(_LAST_SLICE))
            tail = select(rest_hits.c.id, rest_hits.c.start_at, rest_hits.c.score, last)
            # Appended in order: the LIMIT stops before the older exchanges if it can.
            both = union_all(walk.subquery().select(), tail).subquery(f"walk{tier}")
            walk = select(*both.c).limit(size)
        walks[tier] = walk
    anywhere = walks[0].cte("anywhere").prefix_with("MATERIALIZED")
    found = select(func.count()).select_from(anywhere).scalar_subquery()
    full = found >= bindparam("window0", type_=Integer, literal_execute=True)
    title = func.ts_filter(_PG_SEARCH.c.document, literal_column("'{a,b}'"))
    among = (
        select(anywhere.c.id, anywhere.c.start_at, literal_column(_RANKS[1]), anywhere.c.n)
        .select_from(anywhere.join(_PG_SEARCH, _PG_SEARCH.c.exchange_id == anywhere.c.id))
        .where(~full, title.op("@@")(_pg_query(terms, completed)))
    )
    walked = walks[1].subquery("title")
    return union_all(select(*anywhere.c), select(*walked.c).where(full), among)


#: The ids of a page on SQLite: one JSON array parameter, so one statement text whatever the
#: number of hits (an expanded IN list is rendered anew for each execution).
_SQLITE_IDS: Any = select(column("value")).select_from(func.json_each(bindparam("ids")))
_ENTRIES = {
    # PostgreSQL: one array parameter, one statement text whatever the number of hits.
    True: entry_select().where(Exchange.id == any_(bindparam("ids", type_=ARRAY(Integer)))),
    False: entry_select().where(Exchange.id.in_(_SQLITE_IDS)),
}
_PEOPLE = (
    select(exchange_contacts.c.exchange_id, Contact.first_name, Contact.last_name)
    .join(Contact, Contact.id == exchange_contacts.c.contact_id)
    .where(exchange_contacts.c.exchange_id.in_(_SQLITE_IDS))
    .order_by(exchange_contacts.c.exchange_id, Contact.id)
)
#: The first and last start of all exchanges: where PostgreSQL's walk by slices begins and
#: ends (two ends of ix_exchanges_start).
#: It also turns JIT compilation off for the connection (read-only sessions run without a
#: transaction, so a local setting would not reach the next statement): the walk's cost is
#: estimated from unknown blocks (a parameter of the nested loop), high enough for
#: PostgreSQL to compile it, which took 0.05-1.5 s for a statement that runs in milliseconds.
#: GRC's statements are all short; none gains from JIT.
_SPAN = select(
    func.min(Exchange.start_at),
    func.max(Exchange.start_at),
    func.set_config("jit", "off", literal_column("false")),
)


#: Statements of the searches whose filter has at most dates, by shape: built once (building
#: one costs more than running it for a rare word).
_STATEMENTS: dict[tuple[object, ...], Any] = {}
_DATES_ONLY = {"since", "until"}


@dataclass(frozen=True)
class _Scope:
    """What restricts a search besides its words: the conditions on the exchange, their
    parameters, and the key of the statements built with them (``None``: not cached)."""

    conditions: list[Any]
    params: dict[str, object]
    key: tuple[object, ...] | None


def _scope(session: Session, actor: User, flt: ExchangeFilter) -> _Scope:
    """``actor``'s visibility and ``flt`` as conditions; those of a filter with at most dates
    are bound parameters, so that their statements are built once per shape."""
    dates_only = (
        all(
            getattr(flt, f.name) == f.default or f.name in _DATES_ONLY
            for f in fields(ExchangeFilter)
            if f.default is not MISSING
        )
        and flt.custom == {}
    )
    if not dates_only:
        conditions = [visible_exchanges(actor), *filter_conditions(session, flt)]
        return _Scope(conditions, {}, None)
    params: dict[str, object] = {}
    ordinary = actor.active and not actor.is_admin
    if ordinary:
        params["reader"] = actor.id
    conditions = [visible_to_user(bindparam("reader")) if ordinary else visible_exchanges(actor)]
    if flt.since is not None:
        params["since"] = require_aware(flt.since, "since")
        conditions.append(Exchange.start_at >= bindparam("since", type_=Exchange.start_at.type))
    if flt.until is not None:
        params["until"] = require_aware(flt.until, "until")
        conditions.append(Exchange.start_at < bindparam("until", type_=Exchange.start_at.type))
    key = (ordinary, actor.active, flt.since is None, flt.until is None)
    return _Scope(conditions, params, key)


def _built(key: tuple[object, ...] | None, build: Callable[[], Any]) -> Any:
    if key is None:
        return build()
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _sqlite_ranks(
    session: Session, terms: SearchTerms, flt: ExchangeFilter, scope: _Scope, limit: int
) -> dict[int, float] | None:
    query = _fts5_match(terms, lambda prefix: _completions(session, prefix))
    if query is None:
        return None
    key = None if scope.key is None else ("sqlite", *scope.key)
    stmt = _built(key, lambda: _sqlite_statement(terms, scope.conditions, flt))
    values = {"match": query, **_key_values(flt), **scope.params, **_windows_sizes(limit)}
    ranks: dict[int, float] = {}
    for ident, rank in session.execute(stmt, values | {"rows": 2 * limit}):
        if ident not in ranks and len(ranks) < limit:
            ranks[ident] = float(rank)
    return ranks


def _windows_sizes(limit: int) -> dict[str, int]:
    """How many candidates each window needs for a page of ``limit``: the subject-and-names
    hits come first, so at most ``limit`` of them show; the matches anywhere include those,
    so ``2 * limit`` of them hold ``limit`` others.  Never more than :data:`SEARCH_WINDOW`,
    the rule's window (with a page of at most :data:`MAX_HITS`, the rule's result)."""
    return {"window1": min(SEARCH_WINDOW, limit), "window0": min(SEARCH_WINDOW, 2 * limit)}


def _pg_ranks(
    session: Session, terms: SearchTerms, flt: ExchangeFilter, scope: _Scope, limit: int
) -> dict[int, float]:
    """The best hits on PostgreSQL, read slice by slice of dates, newest first (see
    :func:`day_slices`), until the windows are full or the oldest exchange is passed: the
    cost follows the page, not the number of matches nor of the exchanges without one."""
    oldest, newest, _ = session.execute(_SPAN).one()
    if oldest is None:
        return {}
    first, last = _day(oldest), _day(newest)
    if flt.since is not None:
        first = max(first, _day(flt.since))
    if flt.until is not None:  # excluded: its day counts only if it holds an earlier start
        last = min(last, _day(flt.until - timedelta(microseconds=1)))
    completions = _pg_completions(session, terms) if terms.prefix else None
    sizes = _windows_sizes(limit)
    values: dict[str, object] = {**_pg_values(terms), **scope.params, **sizes}
    if completions is not None:
        values["prefix_words"] = completions
    boundary = max(first, last + 1 - SLICED_DAYS)
    older = first < boundary
    shape = (len(terms.words), len(terms.phrases), bool(terms.prefix), completions is not None)
    key = None if scope.key is None else ("postgresql", *shape, older, *scope.key)
    stmt = _built(key, partial(_pg_statement, terms, scope.conditions, flt, shape[3], older))
    values["slices"] = [
        " | ".join(_tsquery_lexeme(b) for b in slice_blocks(low, high))
        for low, high in day_slices(boundary, last)
    ]
    if older:
        values["older"] = datetime.fromtimestamp(boundary * _DAY, UTC)
    hits = sorted(
        (-rank, n, -start.timestamp(), -ident, ident)
        for ident, start, rank, n in session.execute(stmt, values)
    )
    found: dict[int, list[int]] = {1: [], 0: []}
    for rank, *_, ident in hits:
        found[1 if rank <= -1 else 0].append(ident)
    ranks: dict[int, float] = {}
    for tier in (1, 0):
        for ident in found[tier][: sizes[f"window{tier}"]]:
            if ident not in ranks and len(ranks) < limit:
                ranks[ident] = float(_RANKS[tier])
    return ranks


def _snippets(
    session: Session, terms: SearchTerms, entries: list[TimelineEntry], postgresql: bool
) -> dict[int, str]:
    if not entries:
        return {}
    ids = [e.id for e in entries]
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
            .where(Exchange.id == any_(bindparam("ids", type_=ARRAY(Integer))))
        )
        return {ident: snippet for ident, snippet in session.execute(stmt, {"ids": ids})}
    # FTS5's snippet() would evaluate the MATCH again over every matching row, and the index
    # holds stems; the few texts of a page (the entries' subject, details and company, and
    # the contacts' names) are highlighted here instead, with the same folding and stemming.
    names: dict[int, list[str]] = {}
    for ident, first, last in session.execute(_PEOPLE, {"ids": json.dumps(ids)}):
        names.setdefault(ident, []).append(" ".join(n for n in (first, last) if n))
    marks = _matcher(terms)
    return {
        e.id: highlight(
            " — ".join(t for t in (e.subject, e.details, e.company, *names.get(e.id, ())) if t),
            terms,
            marks=marks,
        )
        for e in entries
    }


def search(
    session: Session,
    actor: User,
    raw: str,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 20,
) -> list[SearchHit]:
    """The exchanges ``actor`` may see that match ``raw``, best first.

    Two windows of candidates, both among the exchanges the actor may see that pass the
    filters: the :data:`SEARCH_WINDOW` most recent (by start, then id) whose subject,
    company and contact names alone hold every word, then the :data:`SEARCH_WINDOW` most
    recent matches anywhere.  Hits of the first window come first (``rank`` 1.0), then the
    others (``rank`` 0.5); each group most recent first.  So a subject or a name that
    matches is never hidden by newer matches in the details, and the cost is that of two
    windows, not of every match of a common word in years of history.

    Combine with any filter of :class:`ExchangeFilter`.  Empty or word-less text gives no
    hit (not an error).
    """
    if not 1 <= limit <= MAX_HITS:
        raise ValidationError(f"limit must be between 1 and {MAX_HITS}, got {limit}", field="limit")
    terms = parse(raw)
    if not terms:
        return []
    flt = flt or ExchangeFilter()
    postgresql = session.get_bind().dialect.name == "postgresql"
    scope = _scope(session, actor, flt)
    if postgresql:
        ranks = _pg_ranks(session, terms, flt, scope, limit)
    else:
        found = _sqlite_ranks(session, terms, flt, scope, limit)
        if found is None:
            return []
        ranks = found
    if not ranks:
        return []
    ids: object = list(ranks) if postgresql else json.dumps(list(ranks))
    found_rows = {row[0]: row for row in session.execute(_ENTRIES[postgresql], {"ids": ids})}
    rows = [found_rows[ident] for ident in ranks if ident in found_rows]
    entries = build_entries(session, rows)
    snippets = _snippets(session, terms, entries, postgresql)
    return [SearchHit(entry, ranks[entry.id], snippets.get(entry.id, "")) for entry in entries]
