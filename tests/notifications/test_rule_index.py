"""Fan-out evaluates only the rules an event can satisfy: rules are filed under a value
their condition requires, and the verdicts are those of evaluating every rule."""

from __future__ import annotations

from grc_core.models import Event
from grc_core.notify import fanout, messages, rule_admin
from grc_core.services import exchanges

from .conftest import T0

CONDITIONS = {
    "meeting at ACME": "exchange.action = 'meeting' and company.name = 'ACME'",
    "either company": "company.name in ['Globex', 'ACME']",
    "call or ACME": "exchange.action = 'call' or company.name = 'ACME'",
    "always": "",
    "not ACME": "not (company.name = 'ACME')",
    "Globex": "company.name = 'Globex'",
    "Initech": "company.name = 'Initech'",
    "calls": "exchange.action = 'call'",
    "subject": "exchange.subject contains 'devis' and exchange.action in ['call', 'meeting']",
}


def _add_rules(team):
    ids = {}
    with team.grc.acting_as("admin") as work:
        for name, condition in CONDITIONS.items():
            rule = rule_admin.add_rule(
                work.session, work.actor, name, triggers=["exchange.created"],
                condition=condition, recipients={"users": ["alice"]}, channels=["inbox"],
            )  # fmt: skip
            ids[name] = rule.id
    return ids


def _create(team, **values):
    with team.grc.acting_as("bob") as work:
        args = {"subject": "Visite", "start": T0, "action": "meeting"} | values
        exchange = exchanges.create_exchange(work.session, work.actor, **args)
        return exchange.id


def _event_of(session, exchange_id):
    from sqlalchemy import select

    return session.scalars(
        select(Event).where(Event.entity_type == "exchange", Event.entity_id == exchange_id)
    ).one()


def _brute_force(session, facts):
    """Every rule of the kind evaluated, as fan-out did before the index."""
    return {
        rule.id
        for rule in fanout._rules(session, facts.event.kind)
        if messages.rule_matches(session, rule, facts, now=T0)
    }


def test_rules_are_filed_under_a_value_their_condition_requires(team):
    ids = _add_rules(team)
    with team.grc.session(read_only=True) as session:
        index = fanout.rule_index(session, "exchange.created")
    by_id = {v: k for k, v in ids.items()}
    assert {by_id[i] for i in index.always} == {"call or ACME", "always", "not ACME"}
    filed = {
        by_id[i]: (name, value)
        for name, (_spec, by_value) in index.keyed.items()
        for value, found in by_value.items()
        for i in found
    }
    # The company name has more distinct values than the action: rules go under it.
    assert filed["meeting at ACME"] == ("company.name", "ACME")
    assert filed["Globex"] == ("company.name", "Globex")
    assert {v for n, v in filed.values() if n == "company.name"} == {"ACME", "Globex", "Initech"}
    assert filed["calls"] == ("exchange.action", "call")


def test_only_candidates_are_evaluated_and_the_verdicts_are_those_of_every_rule(team):
    ids = _add_rules(team)
    by_id = {v: k for k, v in ids.items()}
    cases = [
        ({"company_id": team.acme}, {"meeting at ACME", "either company", "call or ACME",
                                     "always"}),
        ({"company_id": team.other, "action": "call", "subject": "Devis"},
         {"either company", "call or ACME", "always", "not ACME", "Globex", "calls",
          "subject"}),
        ({}, {"always", "not ACME"}),
    ]  # fmt: skip
    for values, expected in cases:
        exchange_id = _create(team, **values)
        with team.grc.session(read_only=True) as session:
            facts = fanout.resolve(session, _event_of(session, exchange_id))
            index = fanout.rule_index(session, facts.event.kind)
            context = messages.rule_context(session, facts, T0)
            candidates = {by_id[i] for i in index.candidates(context)}
            held = {
                rule.id
                for rule, verdict in fanout._matching_rules(session, facts, T0)
                if verdict is True
            }
            assert {by_id[i] for i in held} == expected
            assert held == _brute_force(session, facts)
            assert expected <= candidates
            assert "Initech" not in candidates
            if values.get("company_id") == team.acme:
                assert "Globex" not in candidates and "calls" not in candidates


def test_the_index_follows_rule_changes_within_a_session(team):
    ids = _add_rules(team)
    exchange_id = _create(team, company_id=team.acme)
    with team.grc.acting_as("admin") as work:
        session = work.session
        facts = fanout.resolve(session, _event_of(session, exchange_id))

        def held() -> set[int]:
            return {r.id for r, v in fanout._matching_rules(session, facts, T0) if v is True}

        assert ids["meeting at ACME"] in held()
        rule_admin.set_enabled(session, work.actor, ids["meeting at ACME"], False)
        session.flush()
        assert ids["meeting at ACME"] not in held()
        rule = rule_admin.get_rule(session, ids["Globex"])
        rule.condition = "company.name = 'ACME'"
        session.flush()
        assert ids["Globex"] in held()
        assert held() == _brute_force(session, facts)


def test_a_rule_that_no_longer_compiles_is_reported_not_silently_dropped(team, caplog):
    ids = _add_rules(team)
    exchange_id = _create(team, company_id=team.acme)
    with team.grc.acting_as("admin") as work:
        rule = rule_admin.get_rule(work.session, ids["calls"])
        rule.condition = "exchange.nonexistent = 'x'"  # as if the field had been removed
        work.session.flush()
        facts = fanout.resolve(work.session, _event_of(work.session, exchange_id))
        verdicts = dict(fanout._matching_rules(work.session, facts, T0))
    broken = [v for r, v in verdicts.items() if r.id == ids["calls"]]
    assert len(broken) == 1 and isinstance(broken[0], Exception)


def test_changes_made_outside_the_orm_are_seen_after_the_recheck_interval(team, monkeypatch):
    from sqlalchemy import update

    from grc_core.models import Rule

    ids = _add_rules(team)
    parked = ids["Globex"]
    with team.grc.acting_as("admin") as work:
        session = work.session
        assert parked in fanout.rule_index(session, "exchange.created").rules
        # As the safety limit parks a rule: a statement, not an ORM change.
        session.execute(update(Rule).where(Rule.id == parked).values(parked_at=T0))
        monkeypatch.setattr(fanout, "RULES_RECHECK_SECONDS", 3600.0)
        assert parked in fanout.rule_index(session, "exchange.created").rules  # trusted
        monkeypatch.setattr(fanout, "RULES_RECHECK_SECONDS", 0.0)
        assert parked not in fanout.rule_index(session, "exchange.created").rules
