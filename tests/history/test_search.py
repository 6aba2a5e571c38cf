"""Quick search on both databases: French accents, prefixes, phrases, privacy, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import parse, search
from grc_core.services import companies, exchanges


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
def test_any_text_is_safe(world, session, corpus, text):
    search(session, world.admin, text)


def test_parser_keeps_only_word_characters():
    terms = parse('facture "date limite" (impayée) OR* l\'éché')
    assert terms.words == ("facture", "impayée", "OR")
    assert terms.phrases == (("date", "limite"),)
    assert terms.prefix == "éché"
    assert not parse('"()*:" ')
