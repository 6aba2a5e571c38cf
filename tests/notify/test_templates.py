"""Message templates: mail-merge rendering, plain values, save-time checks, limits."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.models import Event, EventKind
from grc_core.notify.channels import Recipient
from grc_core.notify.templates import (
    FIELDS,
    TemplateError,
    check_template,
    merge_fields,
    plain_values,
    render,
    render_html,
    render_text,
    sample_fields,
)
from grc_core.services import exchanges, opportunities
from grc_core.services.exchanges import snapshot

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications-templates.md"

BODY = """\
Bonjour {{ recipient.name }},

{{ author.name }} a noté « {{ exchange.subject }} » chez {{ company.name }}
le {{ exchange.start }} ({{ exchange.action }}, {{ exchange.status }}).
{% for o in opportunities %}- {{ o.title }} : {{ o.amount }} € ({{ o.stage }})
{% endfor %}Suivi par {{ exchange.assignees|join(', ') }}.
{{ link }}"""


@pytest.fixture
def call(session: Session, world):  # type: ignore[no-untyped-def]
    opportunities.update_opportunity(
        session, world.admin, world.deal1.id, amount=Decimal("12500.50")
    )
    return exchanges.create_exchange(
        session,
        world.alice,
        subject="Relance devis <maintenance>",
        details="Rappeler jeudi",
        start=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        action="call",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id],
        assignees=[world.alice, world.bob],
    )


def test_a_rule_body_renders_the_mail_merge_fields(session: Session, world, call) -> None:
    values = merge_fields(
        recipient=Recipient.from_user(world.bob, timezone="Europe/Paris"),
        exchange=call,
        link="https://grc.example.com/exchanges/1",
    )
    text = render_text(BODY, values)
    assert text.startswith(
        "Bonjour Bob,\n\nAlice a noté « Relance devis <maintenance> » chez ACME\n"
        "le 2026-03-02 10:30 (Appel, "
    )
    # 09:30 UTC is 10:30 in Paris (winter time): formatted in the recipient's zone.
    assert "- Renouvellement : 12500.50 € (" in text
    assert "Suivi par Alice, Bob.\nhttps://grc.example.com/exchanges/1" in text
    html = render_html("<p>{{ exchange.subject }} — {{ company.name }}</p>", values)
    assert html == "<p>Relance devis &lt;maintenance&gt; — ACME</p>"


def test_dates_follow_the_recipient_zone(session: Session, world, call) -> None:
    tokyo = merge_fields(
        recipient=Recipient.from_user(world.bob, timezone="Asia/Tokyo"), exchange=call
    )
    assert tokyo["exchange"]["start"] == "2026-03-02 18:30"  # type: ignore[index]
    assert render("{{ exchange.start_datetime.strftime('%d/%m %H:%M') }}", tokyo) == "02/03 18:30"
    assert tokyo["recipient"]["timezone"] == "Asia/Tokyo"  # type: ignore[index]


def test_every_documented_field_is_given(session: Session, world, call) -> None:
    event = session.scalars(
        select(Event).where(Event.entity_id == call.id, Event.kind == EventKind.EXCHANGE_CREATED)
    ).one()
    values = merge_fields(
        recipient=world.bob, exchange=call, event=event, actor=world.alice, language="en"
    )
    assert set(values) == set(FIELDS)
    for record, fields in FIELDS.items():
        if isinstance(values[record], dict) and record not in ("changes",):
            assert set(values[record]) == set(fields), record  # type: ignore[arg-type]
    assert values["event"]["label"] == "New exchange"  # type: ignore[index]
    assert values["event"]["kind"] == "exchange.created"  # type: ignore[index]
    assert "subject" in values["event"]["changed"]  # type: ignore[index]
    assert values["changes"]["subject"] == ["", "Relance devis <maintenance>"]  # type: ignore[index]
    assert values["exchange"]["action"] == "Call"  # type: ignore[index]
    assert values["exchange"]["action_code"] == "call"  # type: ignore[index]
    assert values["actor"] == {"name": "Alice", "login": "alice"}
    assert values["opportunity"]["title"] == "Renouvellement"  # type: ignore[index]
    assert values["company"]["status"] == "client"  # type: ignore[index]


def test_a_deleted_exchange_is_described_from_its_snapshot(session: Session, world, call) -> None:
    snap = {**snapshot(call), "id": call.id, "assignees": ["Alice", "Bob"]}
    values = merge_fields(recipient=world.bob, exchange=snap, company=world.acme)
    assert values["exchange"]["subject"] == "Relance devis <maintenance>"  # type: ignore[index]
    assert values["exchange"]["start"] == "2026-03-02 10:30"  # type: ignore[index]
    assert values["exchange"]["action"] == "call"  # codes stand for labels  # type: ignore[index]
    assert values["company"]["name"] == "ACME"  # type: ignore[index]


def test_missing_records_are_none_not_undefined(world) -> None:
    values = merge_fields(recipient=world.bob, company=world.other)
    assert values["exchange"] is None and values["opportunity"] is None
    assert render("{% if exchange %}x{% else %}no exchange{% endif %}", values) == "no exchange"
    assert render("[{{ exchange.subject }}]", values) == "[]"


def test_orm_objects_never_reach_a_template(world) -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ user.login }}", {"user": world.alice})
    assert str(caught.value) == (
        "values['user'] is a User; only plain values (str, int, float, Decimal, bool, None, "
        "date, datetime, and lists and dicts of them) may reach a template"
    )
    with pytest.raises(TemplateError, match=r"values\['a'\]\[0\]\['b'\] is a object"):
        plain_values({"a": [{"b": object()}]})
    with pytest.raises(TemplateError, match="has the key 1; template keys must be strings"):
        plain_values({"a": {1: "x"}})


def test_plain_values_copies_and_normalises() -> None:
    from enum import StrEnum

    from markupsafe import Markup

    class Colour(StrEnum):
        RED = "red"

    source = {"t": (1, 2), "m": Markup("<b>"), "e": Colour.RED, "d": date(2026, 1, 2)}
    copy = plain_values(source)
    assert copy == {"t": [1, 2], "m": "<b>", "e": "red", "d": date(2026, 1, 2)}
    assert type(copy["m"]) is str and type(copy["e"]) is str


def test_too_deep_values_are_refused() -> None:
    deep: dict = {}
    node = deep
    for _ in range(12):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(TemplateError, match="nested more than 8 levels deep"):
        plain_values(deep)


# --- check_template (save time) -----------------------------------------------------------------


def test_check_template_returns_the_fields_used() -> None:
    assert check_template(BODY) == [
        "author",
        "author.name",
        "company",
        "company.name",
        "exchange",
        "exchange.action",
        "exchange.assignees",
        "exchange.start",
        "exchange.status",
        "exchange.subject",
        "link",
        "opportunities",
        "recipient",
        "recipient.name",
    ]


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Bonjour\n{{ exchnage.subject }}", "line 2: unknown field 'exchnage'; the fields are: "),
        (
            "{{ company.nom }}",
            "line 1: company has no field 'nom'; its fields are: id, name, owner, status",
        ),
        ("{{ exchange['subjet'] }}", "line 1: exchange has no field 'subjet'"),
        ("a\nb\n{% if exchange %}", "line 3: syntax error: Unexpected end of template."),
        ("{{ exchange.subject | nosuchfilter }}", "line 1: syntax error: No filter named"),
        ("{% for x in %}", "line 1: syntax error: Expected an expression"),
    ],
)
def test_check_template_errors_have_lines(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(template)
    assert str(caught.value).startswith(error), str(caught.value)
    assert caught.value.line == int(error.split()[1].rstrip(":"))
    assert caught.value.field == "template"


def test_check_template_allows_local_names_and_free_form_fields() -> None:
    template = (
        "{% set who = recipient.name %}{% macro b(x) %}<{{ x }}>{% endmacro %}"
        "{{ b(who) }}{{ changes.status }}{{ exchange.custom.priority }}{{ link|upper }}"
        "{% for o in opportunities %}{{ loop.index }}{{ o.title }}{% endfor %}"
    )
    assert check_template(template) == [
        "changes",
        "exchange",
        "exchange.custom",
        "link",
        "opportunities",
        "recipient",
        "recipient.name",
    ]


def test_a_template_error_is_a_validation_error() -> None:
    from grc_core.errors import ValidationError

    assert issubclass(TemplateError, ValidationError)
    assert issubclass(TemplateError, ValueError)


# --- limits --------------------------------------------------------------------------------------


def test_the_output_limit_is_a_parameter() -> None:
    assert render("{{ 'x' * 10 }}", {}, max_output=10) == "x" * 10
    with pytest.raises(TemplateError, match=r"^the output is longer than 9 characters$"):
        render("{{ 'x' * 5 }}{{ 'x' * 5 }}", {}, max_output=9)


def test_the_template_text_is_capped() -> None:
    with pytest.raises(TemplateError, match="the template is 100,001 characters long"):
        render("x" * 100_001, {})


def test_runtime_errors_name_their_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render("ligne 1\nligne 2\n{{ 1 / 0 }}", {})
    assert str(caught.value) == "line 3: ZeroDivisionError: division by zero"
    assert caught.value.line == 3


def test_renders_in_threads_have_their_own_budgets() -> None:
    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    outcomes: dict[str, object] = {}

    def run(name: str, template: str, seconds: float) -> None:
        try:
            outcomes[name] = render(template, sample_fields(), max_seconds=seconds)
        except TemplateError as exc:
            outcomes[name] = exc.reason

    threads = [
        threading.Thread(target=run, args=("slow", slow, 0.3)),
        threading.Thread(target=run, args=("fast", "{{ company.name }}", 5)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {
        "slow": "rendering took longer than 0.3 s (a loop or a recursion too long?)",
        "fast": "ACME",
    }


def test_compiled_templates_are_reused() -> None:
    from grc_core.notify.templates import _compiled

    before = _compiled.cache_info().hits
    for _ in range(3):
        render("{{ company.name }} (cache)", sample_fields())
    assert _compiled.cache_info().hits >= before + 2


# --- documentation -----------------------------------------------------------------------------


def test_every_field_is_documented() -> None:
    page = DOCS.read_text()
    for record, fields in FIELDS.items():
        for name in fields:
            shown = record if not re.fullmatch(r"\w+", name) else f"{record}.{name}"
            assert f"`{shown}`" in page, f"{DOCS.name} does not document {shown}"
