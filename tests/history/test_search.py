"""Quick search on both databases: French accents, prefixes, phrases, privacy, hostile input."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from grc_core.models import Exchange
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import parse, search
from grc_core.services import companies, exchanges
from grc_core.visibility import visible_exchanges


@pytest.fixture
def corpus(world, session):
    def add(subject, details="", **kw):
        args = {
            "subject": subject,
            "details": details,
            "start": world.at(len(made)),
            "action": "call",
        }
        made[subject] = exchanges.create_exchange(session, world.alice, **(args | kw))

    made: dict[str, object] = {}
    add("Échéance du contrat", "Relance pour la facture impayée de mars", company_id=world.acme.id)
    add(
        "Rendez-vous annuel",
        "Présentation de l'offre CRM",
        company_id=world.other.id,
        action="meeting",
    )
    add(
        "Note confidentielle",
        "Négociation du prix plancher",
        company_id=world.acme.id,
        private=True,
        assignees=["bob"],
    )
    add(
        "Appel de Durand",
        "Questions sur la livraison",
        company_id=world.acme.id,
        contact_ids=[world.acme_contact.id],
    )
    add("Courrier global", "Changement d'adresse du siège")
    return made


def found(session, user, text, flt=None):
    return [h.entry.subject for h in search(session, user, text, flt)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("echeance", "Échéance du contrat"),  # accents folded
        ("ÉCHÉANCE", "Échéance du contrat"),  # case folded
        ("facture impayee", "Échéance du contrat"),  # all words, any column
        ('"facture impayée"', "Échéance du contrat"),  # phrase
        ("rendez-vous", "Rendez-vous annuel"),
        ("présent", "Rendez-vous annuel"),  # type-ahead prefix
        ("negociation", "Note confidentielle"),
        ("globex", "Rendez-vous annuel"),  # company name
        ("élise", "Appel de Durand"),  # contact name
        ("adresse siege", "Courrier global"),
    ],
)
def test_french_aware_matches(world, session, corpus, query, expected):
    assert expected in found(session, world.admin, query)


def test_phrase_requires_adjacent_words(world, session, corpus):
    assert found(session, world.admin, '"impayée facture"') == []


def test_ranking_prefers_the_subject_and_snippets_highlight(world, session, corpus):
    exchanges.create_exchange(
        session, world.alice, subject="Livraison retardée", start=world.at(50), action="call",
        company_id=world.acme.id,
    )  # fmt: skip
    hits = search(session, world.admin, "livraison ")
    assert [h.entry.subject for h in hits] == ["Livraison retardée", "Appel de Durand"]
    assert hits[0].rank > hits[1].rank
    assert "[Livraison]" in hits[0].snippet


def test_private_exchanges_do_not_leak_through_search(world, session, corpus):
    assert found(session, world.carol, "negociation plancher") == []
    assert found(session, world.bob, "negociation plancher") == ["Note confidentielle"]


def test_search_combines_with_filters(world, session, corpus):
    flt = ExchangeFilter(company_id=world.acme.id)
    assert set(found(session, world.admin, "la", flt)) <= {
        "Échéance du contrat",
        "Appel de Durand",
        "Note confidentielle",
    }
    assert found(session, world.admin, "presentation", ExchangeFilter(actions=("call",))) == []
    assert found(session, world.admin, "presentation", ExchangeFilter(actions=("meeting",))) == [
        "Rendez-vous annuel"
    ]


def test_index_follows_writes_in_the_same_transaction(world, session, corpus):
    ex = corpus["Courrier global"]
    exchanges.update_exchange(session, world.alice, ex.id, subject="Déménagement des bureaux")
    assert found(session, world.admin, "demenagement") == ["Déménagement des bureaux"]
    assert found(session, world.admin, "courrier") == []
    companies.update_company(session, world.admin, world.other.id, name="Initech")
    assert found(session, world.admin, "initech") == ["Rendez-vous annuel"]
    assert found(session, world.admin, "globex") == []
    exchanges.delete_exchange(session, world.alice, ex.id)
    assert found(session, world.admin, "demenagement") == []


HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    "'",
    "*",
    "**",
    "(",
    ")",
    "a AND",
    "OR NOT NEAR",
    'NEAR("a" "b")',
    "subject:echeance",
    "^echeance",
    "!echeance & | <->",
    "écheance' OR '1'='1",
    "'; DROP TABLE exchanges; --",
    "\\",
    "\x00",
    "é" * 5000,
    "mot " * 400,
    '"unterminated phrase',
    ":*",
    "-rendez",
    "{}[]",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_never_breaks_the_query(world, session, corpus, text):
    hits = search(session, world.admin, text)
    assert isinstance(hits, list)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=80))
def test_any_text_is_safe(world, session, corpus, texts, text):
    terms = parse(text)
    words = [*terms.words, *(w for p in terms.phrases for w in p), terms.prefix or "a"]
    for reader in (world.admin, world.carol):
        hits = search(session, reader, text)
        assert {hit.entry.id for hit in hits} <= texts.visible(reader), text
        # Letters that fold to ASCII only: digits, symbols and letters such as Ø or ß are
        # folded by each engine its own way (PostgreSQL's unaccent turns Ø into O).
        if all(w.isalpha() and fold(w).isascii() for w in words):
            for hit in hits:  # a hit holds the words it was asked for
                assert matches(texts.of(hit.entry.id), terms, strict=False), (text, hit.entry)


# --- properties over a vocabulary -------------------------------------------------------------

#: Words with distinct French stems, none a stop word: a query made of them finds exactly the
#: exchanges whose text holds them (after folding), on both databases.
VOCABULARY = [
    "échéance", "facture", "livraison", "contrat", "plancher", "siège", "adresse",
    "négociation", "présentation", "courrier", "déménagement", "bureau", "relance",
    "trimestre", "garantie", "maintenance",
]  # fmt: skip


def fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    return [fold(w) for w in re.findall(r"\w+", text)]


class Texts:
    """The searchable fields of exchanges and what each reader may see, read once per test
    (hypothesis runs every example of a test on the same data)."""

    def __init__(self, session) -> None:
        self.session = session
        self.fields: dict[int, list[list[str]]] = {}
        self.visible_ids: dict[int, set[int]] = {}

    def of(self, ident: int) -> list[list[str]]:
        if ident not in self.fields:
            exchange = self.session.get(Exchange, ident)
            names = [exchange.company.name] if exchange.company is not None else []
            names += [f"{c.first_name or ''} {c.last_name}" for c in exchange.contacts]
            self.fields[ident] = [
                tokens(exchange.subject),
                tokens(exchange.details),
                tokens(" ".join(names)),
            ]
        return self.fields[ident]

    def visible(self, user) -> set[int]:
        if user.id not in self.visible_ids:
            stmt = select(Exchange.id).where(visible_exchanges(user))
            self.visible_ids[user.id] = set(self.session.scalars(stmt))
        return self.visible_ids[user.id]


@pytest.fixture
def texts(session) -> Texts:
    return Texts(session)


def matches(fields: list[list[str]], terms, *, strict: bool) -> bool:
    """Does a document hold every term?  ``strict``: a phrase within one field, a word as a
    whole word; otherwise a phrase may run across fields and a word may be found by its
    beginning (stemming), so that the check does not depend on the engine's choices."""
    words = [w for field in fields for w in field]

    def has_word(term: str) -> bool:
        wanted = fold(term)
        if strict:
            return wanted in words
        return any(w.startswith(wanted[: max(len(wanted) - 3, 2)]) for w in words)

    def has_phrase(phrase: tuple[str, ...]) -> bool:
        wanted = [fold(w) for w in phrase]
        runs = fields if strict else [words]
        return any(run[i : i + len(wanted)] == wanted for run in runs for i in range(len(run))) or (
            not strict and all(has_word(w) for w in phrase)
        )

    def has_prefix(prefix: str) -> bool:
        wanted = fold(prefix)
        return any(w.startswith(wanted) for w in words) or (not strict and has_word(prefix))

    return (
        all(has_word(w) for w in terms.words)
        and all(has_phrase(p) for p in terms.phrases)
        and (terms.prefix is None or has_prefix(terms.prefix))
    )


@pytest.fixture
def vocabulary_corpus(world, session):
    """Sixteen exchanges written with VOCABULARY, some private, on two companies or none."""
    rng = random.Random(16)
    for i in range(16):
        author = rng.choice([world.alice, world.bob])
        private = rng.random() < 0.4
        exchanges.create_exchange(
            session, author,
            subject=" ".join(rng.sample(VOCABULARY, rng.randint(2, 3))).capitalize(),
            details=" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(3, 6))),
            start=world.at(i), action="call",
            company_id=rng.choice([world.acme.id, world.other.id, None]),
            private=private,
            assignees=[author, world.carol] if private and rng.random() < 0.5 else [author],
        )  # fmt: skip


def spelling(word: str, how: str) -> str:
    return {"as is": word, "upper": word.upper(), "folded": fold(word), "title": word.title()}[how]


SPELLINGS = st.sampled_from(["as is", "upper", "folded", "title"])
TERM = st.builds(spelling, st.sampled_from(VOCABULARY), SPELLINGS)
NOISE = st.sampled_from(["", " ", "  ", " (", ") ", " * ", " : ", " - ", " ' ", ", ", " ! "])


@st.composite
def queries(draw: st.DrawFn) -> str:
    parts = [draw(NOISE)]
    for word in draw(st.lists(TERM, max_size=3)):
        parts += [word, draw(NOISE) or " "]
    if draw(st.booleans()):  # a phrase of two words
        parts += ['"', draw(TERM), " ", draw(TERM), '" ']
    if draw(st.booleans()):  # the word being typed: a prefix, no space after it
        word = fold(draw(st.sampled_from(VOCABULARY)))
        parts.append(word[: draw(st.integers(min_value=3, max_value=len(word)))])
    return "".join(parts)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=queries(), reader=st.sampled_from(["admin", "alice", "bob", "carol"]))
def test_search_finds_exactly_the_visible_matches_best_first(
    world, session, vocabulary_corpus, texts, text, reader
):
    user = getattr(world, reader)
    terms = parse(text)
    hits = search(session, user, text, limit=100)
    visible = texts.visible(user)
    ids = [hit.entry.id for hit in hits]
    assert len(ids) == len(set(ids))  # no exchange twice
    assert set(ids) <= visible, (text, reader)  # nothing the reader may not see
    for hit in hits:  # every hit holds the words, after folding
        assert matches(texts.of(hit.entry.id), terms, strict=False), (text, hit.entry)
    # …and every visible exchange that holds them (as whole words, phrases within a field)
    # is found: accents and case do not hide one.
    holding = {i for i in visible if terms and matches(texts.of(i), terms, strict=True)}
    assert holding <= set(ids), (text, reader, holding - set(ids))
    # Best first; equal ranks newest first.
    order = [(-hit.rank, -hit.entry.start_at.timestamp(), -hit.entry.id) for hit in hits]
    assert order == sorted(order), text
    if not terms:
        assert hits == []
