"""One French corpus, searched on SQLite and on PostgreSQL: the same exchanges are found.

PostgreSQL stems French words with the Snowball stemmer of its ``french`` configuration;
SQLite's index holds the same stems, written by GRC (grc_core.french_text).  Each query's
result set is checked against what a French reader expects, and the two databases against
each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.french_text import fold, index_text, stem_word
from grc_core.queries.search import search
from grc_core.services import companies, exchanges, users

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

#: (subject, details, company)
CORPUS = [
    ("Contrat de maintenance signé", "Le client a signé le contrat annuel.", "Martin SA"),
    ("Factures de mars", "Deux factures restent impayées.", "Société Générale Électricité"),
    ("Relancer le client", "Relance téléphonique prévue.", "Martin SA"),
    ("Livraisons du trimestre", "Les livraisons ont pris du retard.", None),
    ("Signature de contrat", "Rendez-vous pour la signature.", "Société Générale Électricité"),
    ("Mise en œuvre du projet", "ŒUVRE commune avec l'équipe.", None),
    ("Échéance reportée", "L'échéance des paiements est repoussée à avril.", "Cœur de Lion SARL"),
    ("Déménagement des bureaux", "Les bureaux déménagent en été.", None),
]  # fmt: skip

#: A query and the subjects it must find, on both databases.
EXPECTED = {
    "contrats ": {"Contrat de maintenance signé", "Signature de contrat"},
    "factures ": {"Factures de mars"},
    "facture": {"Factures de mars"},
    "relancé ": {"Relancer le client"},
    "relances": {"Relancer le client"},
    "relan": {"Relancer le client"},
    "livraison ": {"Livraisons du trimestre"},
    "signer ": {"Contrat de maintenance signé"},
    "signature ": {"Signature de contrat"},
    "oeuvre ": {"Mise en œuvre du projet"},
    "Œuvres": {"Mise en œuvre du projet"},
    "coeur ": {"Échéance reportée"},
    "echeances ": {"Échéance reportée"},
    "ÉCHÉANCE paiement ": {"Échéance reportée"},
    "generale ": {"Factures de mars", "Signature de contrat"},
    "GÉNÉRALE électricité ": {"Factures de mars", "Signature de contrat"},
    '"signature du contrat"': {"Signature de contrat"},  # a stop word holds its place
    '"contrat signature"': set(),  # phrases keep their order
    "le ": set(),  # only stop words: nothing to look for
    "le contrat annuel ": {"Contrat de maintenance signé"},  # stop words are ignored
    "déménager ": {"Déménagement des bureaux"},
    "été ": {"Déménagement des bureaux"},  # accented, hence not a stop word on PostgreSQL
    "bureau": {"Déménagement des bureaux"},
    "trimestriel ": set(),
}


def _load(engine: Engine) -> None:
    with Session(engine) as session:
        admin = users.create_user(session, None, login="admin", display_name="Admin", is_admin=True)
        ids: dict[str, int] = {}
        for i, (subject, details, company) in enumerate(CORPUS):
            if company is not None and company not in ids:
                ids[company] = companies.create_company(session, admin, name=company).id
            exchanges.create_exchange(
                session, admin, subject=subject, details=details, action="call",
                start=T0 + timedelta(hours=i), company_id=ids.get(company or ""),
            )  # fmt: skip
        session.commit()


@pytest.fixture(scope="module")
def both(db_factory) -> Iterator[dict[str, Engine]]:
    engines = {}
    for kind in ("sqlite", "postgresql"):
        engine = create_db_engine(db_factory.url(kind))
        schema.upgrade(engine)
        _load(engine)
        engines[kind] = engine
    yield engines
    for engine in engines.values():
        engine.dispose()


def _found(engine: Engine, query: str) -> set[str]:
    with Session(engine) as session:
        admin = users.get_user(session, "admin")
        return {hit.entry.subject for hit in search(session, admin, query, limit=100)}


@pytest.mark.parametrize("query", sorted(EXPECTED))
def test_one_french_query_finds_the_same_exchanges_on_both_databases(both, query):
    found = {kind: _found(engine, query) for kind, engine in both.items()}
    assert found["sqlite"] == found["postgresql"], query
    assert found["sqlite"] == EXPECTED[query], query


def test_sqlite_snippets_mark_words_of_the_same_stem(both):
    with Session(both["sqlite"]) as session:
        admin = users.get_user(session, "admin")
        (hit,) = search(session, admin, "contrats annuels")
    assert "[contrat]" in hit.snippet and "[annuel]" in hit.snippet
    assert "— Martin" in hit.snippet  # the company name, read from its table


def test_folding_spells_out_ligatures_and_stems_like_postgresql(both):
    assert fold("Œuvre ÆTHER Ørsted") == "oeuvre aether orsted"
    assert stem_word("le") is None and stem_word("a320") == "a320"
    with both["postgresql"].connect() as conn:
        for word in ("contrats", "relancer", "livraisons", "signer", "echeances", "oeuvre"):
            lexemes = conn.execute(text("SELECT ts_lexize('french_stem', :w)"), {"w": word})
            assert lexemes.scalar_one() == [stem_word(word)], word


def test_an_index_of_raw_text_is_rewritten_at_upgrade(db_factory):
    """A database indexed by an older version (whole words) is stemmed by `upgrade`."""
    engine = create_db_engine(db_factory.url("sqlite"))
    try:
        schema.upgrade(engine)
        _load(engine)
        with engine.begin() as conn:  # back to what migration 0003 wrote
            conn.exec_driver_sql("DELETE FROM exchange_fts")
            conn.exec_driver_sql("DELETE FROM exchange_fts_title")  # migration 0011
            conn.exec_driver_sql(
                "INSERT INTO exchange_fts (rowid, subject, details, names)"
                " SELECT id, subject, details, '' FROM exchanges"
            )
            conn.exec_driver_sql("PRAGMA user_version = 0")
        assert _found(engine, "signer ") == set()  # "signé" is not the stem "sign"
        schema.upgrade(engine)
        assert _found(engine, "signer ") == EXPECTED["signer "]
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA user_version").scalar_one() == 1
            stored = conn.exec_driver_sql("SELECT subject FROM exchange_fts LIMIT 1").scalar_one()
        assert stored == index_text(CORPUS[0][0])
    finally:
        engine.dispose()


#: Inflected forms, stop words, ligatures and accents, as people type them.
TYPED = [
    "contrat", "contrats", "Contrat", "signé", "signer", "signature", "signatures", "facture",
    "factures", "FACTURÉE", "relance", "relancer", "relancé", "relances", "livraison",
    "livraisons", "oeuvre", "œuvres", "ŒUVRE", "coeur", "échéance", "echeances", "paiements",
    "bureaux", "bureau", "déménagent", "été", "le", "la", "des", "du", "de", "générale",
    "électricité", "martin", "lion", "retard", "annuel", "annuels", "impayée", "trimestre",
]  # fmt: skip


# Quoted phrases are compared on the curated queries above only: PostgreSQL's document joins
# the French and the unstemmed words of every field into one position sequence, so a phrase
# can run across the end of one part into the next ("martin martin" finds "Martin SA", whose
# stop word "sa" leaves the stemmed part one word long); SQLite keeps its parts apart.  This
# known difference is documented in docs/history-and-search.md.
@settings(max_examples=120, deadline=None)
@given(
    words=st.lists(st.sampled_from(TYPED), min_size=1, max_size=3),
    typing=st.booleans(),
)
def test_any_french_query_finds_the_same_exchanges_on_both_databases(both, words, typing):
    query = " ".join(words)
    if not typing:
        query += " "  # whole words, not the beginning of the last one
    found = {kind: _found(engine, query) for kind, engine in both.items()}
    assert found["sqlite"] == found["postgresql"], query
