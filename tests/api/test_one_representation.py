"""One representation per resource: the command line's ``--json`` and the HTTP API emit the
same names and types.

Each resource's ``--json`` output is checked three ways: its names are exactly the fields of
the API's output model (a list entry: exactly the fields of its documented subset model, whose
names all belong to the full resource), it validates against that pydantic model, and it
validates against the component schema of the OpenAPI document (JSON Schema, as a client
generated from that document would check it).  For exchanges and opportunities, the API's
own answer is compared with the command line's, value for value.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel
from tests.cli.runner import Grc

from grc_api import create_app
from grc_api.schemas import (
    AttachmentOut,
    CategoryOut,
    CompanyOut,
    ContactOut,
    EntryOut,
    ExchangeOut,
    FieldOut,
    InboxItemOut,
    OpportunityOut,
    PicklistValueOut,
    PreferencesOut,
    RuleOut,
    SearchHitOut,
    SubscriptionOut,
    TokenOut,
    UserOut,
)
from grc_core.facade import Grc as Facade
from grc_core.files import samples


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    """The OpenAPI document's component schemas (the app is built without a database)."""
    app = create_app(Facade.from_url("sqlite:///:memory:"))
    return app.openapi()["components"]["schemas"]


def conforms(
    model: type[BaseModel], data: dict[str, Any], components: dict[str, Any], *, name: str = ""
) -> None:
    """``data`` has exactly ``model``'s names, and validates against the model and against
    its OpenAPI component schema."""
    fields = set(model.model_fields)
    assert set(data) == fields, (
        f"{model.__name__}: unknown {set(data) - fields}, missing {fields - set(data)}"
    )
    model.model_validate(data)
    schema_name = name or model.__name__
    assert schema_name in components, f"{schema_name} is not in the OpenAPI document"
    schema = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": {"schemas": components},
    }
    jsonschema_rs.Draft202012Validator(schema).validate(data)


def test_list_entries_are_subsets_of_the_full_resource_with_the_same_names():
    assert set(EntryOut.model_fields) < set(ExchangeOut.model_fields)
    assert set(SearchHitOut.model_fields) - set(EntryOut.model_fields) == {"rank", "snippet"}


@pytest.fixture
def cli(fresh_url: str, tmp_path: Path) -> Grc:
    runner = Grc(fresh_url, tmp_path)
    runner.ok("db", "upgrade")
    runner.ok("user", "add", "admin", "--name", "Admin", "--admin")
    runner.ok("user", "add", "alice", "--name", "Alice", "--email", "a@example.com", as_="admin")
    runner.ok("company", "add", "ACME", "--owner", "alice", as_="admin")
    runner.ok("contact", "add", "1", "--last-name", "Durand", as_="admin")
    runner.ok("category", "add", "visit", "--fr", "Visite", as_="admin")
    runner.ok("field", "add", "budget", "--label", "Budget", "--type", "decimal", as_="admin")
    return runner


def test_catalogue_and_people_validate_against_the_api_schemas(cli: Grc, components: dict):
    for user in cli.json("user", "list", as_="admin"):
        conforms(UserOut, user, components)
    conforms(UserOut, cli.json("user", "show", "alice", as_="admin"), components)
    for company in cli.json("company", "list", as_="admin"):
        conforms(CompanyOut, company, components)
    for contact in cli.json("contact", "list", "1", as_="admin"):
        conforms(ContactOut, contact, components)
    for value in cli.json("picklist", "list", "action", as_="admin"):
        conforms(PicklistValueOut, value, components)
    for category in cli.json("category", "list", as_="admin"):
        conforms(CategoryOut, category, components)
    for field in cli.json("field", "list", as_="admin"):
        conforms(FieldOut, field, components)
    created = cli.json("token", "create", "alice", "--name", "phone", as_="admin")
    conforms(TokenOut, {k: v for k, v in created.items() if k != "token"}, components)
    for token in cli.json("token", "list", "alice", as_="admin"):
        conforms(TokenOut, token, components)
        assert token["user"] == "alice"


def _record(cli: Grc) -> dict[str, Any]:
    deal = cli.json(
        "opportunity", "add", "1", "--title", "Renouvellement", "--amount", "150012",
        as_="alice",
    )  # fmt: skip
    exchange = cli.json(
        "exchange", "add", "--subject", "Visite annuelle", "--start", "2026-03-02T09:00",
        "--action", "meeting", "--company", "1", "--opportunity", str(deal["id"]),
        "--contact", "1", "--category", "visit", "--field", "budget=1250.50",
        "--assign", "alice", "--details", "Échéance du contrat en juin",
        as_="alice",
    )  # fmt: skip
    cli.json(
        "exchange", "add", "--subject", "Comité commercial", "--start", "2026-03-03T10:00",
        "--action", "note",
        as_="admin",
    )  # fmt: skip
    return {"deal": deal, "exchange": exchange}


def test_records_and_lists_validate_against_the_api_schemas(
    cli: Grc, components: dict, tmp_path: Path
):
    made = _record(cli)
    deal, exchange = made["deal"], made["exchange"]
    # Opportunities: the company as {id, name}, the amount as a canonical decimal string.
    conforms(OpportunityOut, deal, components)
    assert deal["company"] == {"id": 1, "name": "ACME"} and deal["amount"] == "150012"
    for listed in cli.json("opportunity", "list", as_="alice"):
        conforms(OpportunityOut, listed, components)
    shown = cli.json("company", "show", "1", as_="alice")
    for listed in shown["opportunities"]:
        conforms(OpportunityOut, listed, components)
    # Exchanges: show, add and list give the full resource.
    conforms(ExchangeOut, exchange, components)
    full = cli.json("exchange", "show", str(exchange["id"]), as_="alice")
    conforms(ExchangeOut, full, components)
    assert full["author"] == {"id": 2, "name": "Alice", "login": "alice"}
    assert full["custom"] == {"budget": "1250.5"}
    for listed in cli.json("exchange", "list", as_="admin"):
        conforms(ExchangeOut, listed, components)
    # History entries: the documented subset, whatever the history.
    histories = (
        ("company", "1"),
        ("opportunity", str(deal["id"])),
        ("user", "alice"),
        ("global",),
    )
    for scope in histories:
        entries = cli.json("history", *scope, as_="admin")["entries"]
        assert entries, scope
        for entry in entries:
            conforms(EntryOut, entry, components)
            assert entry["author"]["name"] in ("Alice", "Admin")
    # Search hits: an entry, its rank and its snippet.
    hits = cli.json("search", "echeance", as_="alice")
    assert [h["id"] for h in hits] == [exchange["id"]]
    conforms(SearchHitOut, hits[0], components)
    # Attachments.
    pdf = tmp_path / "offre.pdf"
    pdf.write_bytes(samples.pdf())
    added = cli.json("attachment", "add", str(pdf), "--exchange", str(exchange["id"]), as_="alice")
    for attachment in added:
        conforms(AttachmentOut, attachment, components)
        assert attachment["owner"] == {"kind": "exchange", "id": exchange["id"]}
    for attachment in cli.json(
        "attachment", "list", "--exchange", str(exchange["id"]), as_="alice"
    ):
        conforms(AttachmentOut, attachment, components)


def test_notification_resources_validate_against_the_api_schemas(cli: Grc, components: dict):
    sub = cli.json("subscribe", "--company", "1", "--channel", "inbox", as_="alice")
    conforms(SubscriptionOut, sub, components)
    assert sub["target"] == {"kind": "company", "id": 1} and sub["follows"] == "company 1: ACME"
    for listed in cli.json("subscriptions", as_="alice"):
        conforms(SubscriptionOut, listed, components)
    cli.ok("preferences", "set", "--quiet", "22:00-07:00", as_="alice")
    prefs = cli.json("preferences", "show", as_="alice")
    conforms(PreferencesOut, prefs, components)
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    # Quiet hours would hold the inbox delivery below when the test runs at night.
    cli.ok("preferences", "set", "--no-quiet", as_="alice")
    rule = cli.json(
        "rules", "add", "RDV", "--on", "exchange.created", "--to", "users:alice",
        "--to", "assignees", "--channel", "inbox",
        as_="admin",
    )  # fmt: skip
    conforms(RuleOut, rule, components)
    assert rule["recipients"]["users"] == ["alice"] and rule["recipients"]["assignees"]
    for listed in cli.json("rules", "list", as_="admin"):
        conforms(RuleOut, listed, components)
    _record(cli)
    cli.ok("notify", "run-once", as_="admin")
    box = cli.json("inbox", as_="alice")
    assert box["items"]
    for item in box["items"]:
        conforms(InboxItemOut, item, components)


def _same_instants(cli: Any, api: Any) -> None:
    """Equal, date-times compared as instants (the command line shows its own zone)."""
    if isinstance(cli, dict):
        assert set(cli) == set(api)
        for key in cli:
            _same_instants(cli[key], api[key])
    elif isinstance(cli, list):
        assert len(cli) == len(api)
        for a, b in zip(cli, api, strict=True):
            _same_instants(a, b)
    elif isinstance(cli, str) and "T" in cli and cli[:4].isdigit() and cli[-6] in "+-":
        assert datetime.fromisoformat(cli) == datetime.fromisoformat(api.replace("Z", "+00:00"))
    else:
        assert cli == api


def test_the_api_answers_what_the_command_line_prints(cli: Grc):
    made = _record(cli)
    secret = cli.json("token", "create", "alice", as_="admin")["token"]
    app = create_app(Facade.from_url(cli.url))
    transport = httpx.ASGITransport(app=app)

    async def get(path: str) -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://grc") as client:
            answer = await client.get(path, headers={"Authorization": f"Bearer {secret}"})
            assert answer.status_code == 200, answer.text
            return answer.json()

    import asyncio

    ident = made["exchange"]["id"]
    api_exchange = asyncio.run(get(f"/api/v1/exchanges/{ident}"))
    _same_instants(cli.json("exchange", "show", str(ident), as_="alice"), api_exchange)
    deal = made["deal"]["id"]
    api_deal = asyncio.run(get(f"/api/v1/opportunities/{deal}"))
    _same_instants(cli.json("opportunity", "show", str(deal), as_="alice"), api_deal)
    api_history = asyncio.run(get("/api/v1/companies/1/history"))
    cli_history = cli.json("history", "company", "1", as_="alice")["entries"]
    # The API's model writes the absent login of a list entry's author as null.
    for entry in api_history["items"]:
        assert entry["author"].pop("login") is None
    _same_instants(cli_history, api_history["items"])
