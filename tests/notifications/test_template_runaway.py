"""A rule whose template runs away on some data fails for that event alone, at once, with a
typed error; everything else fans out and is delivered."""

from __future__ import annotations

import logging

from grc_core.notify import rule_admin, subscriptions
from grc_core.notify.templates import TemplateError, check_template
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.services import exchanges

from .conftest import T0, Recording

#: The issue's payload: harmless on the sample values of the save-time check, 2**31 nested
#: lists (and minutes of one C-level comparison, before the structure limit) on "boom".
RUNAWAY = (
    "{% set ns = namespace(l=[1], m=[1], n=(31 if exchange.subject == 'boom' else 2)) %}"
    "{% for i in range(ns.n) %}{% set ns.l=[ns.l,ns.l] %}{% set ns.m=[ns.m,ns.m] %}"
    "{% endfor %}{{ ns.l == ns.m }}"
)


def test_a_runaway_template_fails_its_own_event_and_blocks_nothing(team, clock, caplog):
    check_template(RUNAWAY)  # the save-time trial render cannot see it coming
    with team.grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, "Bombe", triggers=["exchange.created"],
            recipients={"company_owner": True}, channels=["email"],
            subject_template="Règle", body_template=RUNAWAY,
        )  # fmt: skip
    with team.grc.acting_as("alice") as work:
        subscriptions.subscribe(work.session, work.actor, company_id=team.acme, channels=["email"])
    with team.grc.acting_as("bob") as work:
        for subject in ("boom", "Visite", "boom", "Relance"):
            exchanges.create_exchange(
                work.session, work.actor, subject=subject, start=T0, action="meeting",
                company_id=team.acme,
            )  # fmt: skip
    channel = Recording()
    worker = DeliveryWorker(
        team.grc.session, {"email": channel}, config=WorkerConfig(), clock=clock, worker_id="w1"
    )
    with caplog.at_level(logging.WARNING, logger="grc_core.notify"):
        worker.drain()

    # The subscriber hears of all four exchanges; the rule's recipient (ACME's owner) gets
    # the rule's message for the two harmless ones only.
    sent = sorted((m.recipient.login, m.subject, m.text) for m in channel.sent)
    assert [login for login, _, _ in sent].count("alice") == 4
    assert [(login, text) for login, subject, text in sent if subject == "Règle"] == [
        ("carol", "True"),
        ("carol", "True"),
    ]
    # The two "boom" events: refused by the structure limit (a typed TemplateError, logged),
    # not cut by the time budget after half a second of work.
    refusals = [r.getMessage() for r in caplog.records if "Bombe" in r.getMessage()]
    assert len(refusals) == 2, refusals
    assert all("would hold more than 256,000 items" in r for r in refusals), refusals
    assert issubclass(TemplateError, ValueError)
