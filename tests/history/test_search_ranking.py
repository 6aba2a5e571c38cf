"""Which matches a search ranks: the most recent by date, and never hides a subject match."""

from __future__ import annotations

from sqlalchemy import event, text

from grc_core.db import create_db_engine
from grc_core.queries import search as search_module
from grc_core.queries.search import SEARCH_WINDOW, search
from grc_core.services import exchanges
from grc_core.services.bulk import ExchangeRecord, import_exchanges

# More details-only matches than the window holds, imported after the exchanges under test
# (higher ids), as a migration from an old CRM would be.
FLOOD = SEARCH_WINDOW + 100


def flood(world, session, *, hours_from: float) -> None:
    records = (
        ExchangeRecord(
            subject=f"Appel repris {i}",
            details="Notes reprises de l'historique de l'ancien CRM",
            start=world.at(hours_from + i),
            action="call",
            author_id=world.alice.id,
            company_id=world.acme.id,
        )
        for i in range(FLOOD)
    )
    import_exchanges(session, world.admin, records)


def subjects(session, user, text, **kw):
    return [h.entry.subject for h in search(session, user, text, limit=100, **kw)]


def test_a_subject_match_is_found_behind_more_recent_details_only_matches(world, session):
    # The example: newer imported details-only matches with higher ids used to fill
    # the whole window, and the exchange whose subject holds the word was never returned.
    exchanges.create_exchange(
        session,
        world.alice,
        subject="Historique des commandes",
        start=world.at(0),
        action="call",
        company_id=world.acme.id,
    )
    flood(world, session, hours_from=1)

    found = subjects(session, world.alice, "historique")

    # Ranked first: the subject weighs more than the details, whatever its date.
    assert found[0] == "Historique des commandes"
    # Same for a word being typed (prefix) and a whole word.
    assert subjects(session, world.alice, "histo")[0] == "Historique des commandes"
    assert subjects(session, world.alice, "historique ")[0] == "Historique des commandes"


def test_a_company_name_match_is_found_behind_details_only_matches(world, session):
    exchanges.create_exchange(
        session,
        world.alice,
        subject="Point annuel",
        start=world.at(0),
        action="call",
        company_id=world.other.id,  # "Globex"
    )
    records = (
        ExchangeRecord(
            subject=f"Appel repris {i}",
            details="Ancien fournisseur: Globex",
            start=world.at(1 + i),
            action="call",
            author_id=world.alice.id,
            company_id=world.acme.id,
        )
        for i in range(FLOOD)
    )
    import_exchanges(session, world.admin, records)

    assert "Point annuel" in subjects(session, world.alice, "globex")


def test_the_window_holds_the_most_recent_matches_by_date_not_the_highest_ids(world, session):
    # Recorded first (lowest id) but the most recent by date: it belongs in the window,
    # whereas the imported matches, dated years before, come after it by date.
    exchanges.create_exchange(
        session,
        world.alice,
        subject="Appel de suivi",
        details="Revu l'historique avec le client",
        start=world.at(0),
        action="call",
        company_id=world.acme.id,
    )
    flood(world, session, hours_from=-24 * 365 * 3)

    hits = search(session, world.alice, "historique", limit=100)

    assert "Appel de suivi" in [h.entry.subject for h in hits]
    # Equal relevance (the same word in the details): the newest first.
    assert hits[0].entry.subject == "Appel de suivi"


def test_the_window_is_bounded_and_ranked_within_it(world, session, monkeypatch):
    # A small window, to see that only the most recent matches (by date) are ranked.
    monkeypatch.setattr(search_module, "SEARCH_WINDOW", 3)
    for i, hours in enumerate([5, 1, 4, 2, 3]):
        exchanges.create_exchange(
            session,
            world.alice,
            subject=f"Appel {i}",
            details="Relance du devis",
            start=world.at(hours),
            action="call",
        )
    found = subjects(session, world.alice, "devis")
    # The three most recent: hours 5, 4 and 3 (ids 0, 2 and 4), newest first at equal rank.
    assert found == ["Appel 0", "Appel 2", "Appel 4"]


def test_search_words_reach_the_database_as_parameters(world, session):
    # Written into the SQL, every new word would be a new statement, planned from scratch
    # and never reused (on PostgreSQL, the words were inlined).
    exchanges.create_exchange(
        session, world.alice, subject="Zyxwortel", details="Qwvarsenal", start=world.at(0),
        action="call",
    )  # fmt: skip
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        hits = search(session, world.alice, "zyxwortel qwvarsen")
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert [h.entry.subject for h in hits] == ["Zyxwortel"]
    assert statements
    for statement, _ in statements:
        assert "zyxwortel" not in statement.lower()
        assert "qwvarsen" not in statement.lower()
    assert any("zyxwortel" in repr(parameters).lower() for _, parameters in statements)


def test_postgresql_connections_plan_each_execution_with_its_values(db_factory):
    # psycopg prepares a statement on its 5th run; PostgreSQL's generic plan of a filtered
    # history or a common word is 10-50x slower on skewed data (grc_core.db).
    url = db_factory.url("postgresql")
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()
    # A caller's own setting wins, and other options are kept.
    engine = create_db_engine(
        url, connect_args={"options": "-c plan_cache_mode=auto -c application_name=host"}
    )
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"
            assert conn.scalar(text("SHOW application_name")) == "host"
    finally:
        engine.dispose()
    engine = create_db_engine(url, connect_args={"options": "-c application_name=host"})
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            assert conn.scalar(text("SHOW application_name")) == "host"
    finally:
        engine.dispose()
