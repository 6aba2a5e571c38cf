"""History pages are sent without validating each entry again: what they send must still be
exactly what :class:`HistoryPage` describes and would have written.

Each page is checked against the OpenAPI document's schema (as a generated client would
check it), against the model (validated then dumped again, it gives the same data back:
same names, same ``Z`` instants, the author's null login) and entry by entry against the
model path :meth:`EntryOut.of`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest

from grc_api.rendering import dumps
from grc_api.schemas import EntryOut, HistoryPage
from grc_core.queries import history as histories
from grc_core.services import categories, exchanges, users


@pytest.fixture(scope="module")
def page_world(api_world: Any) -> Any:
    """Exchanges with every kind of value a list entry carries: microseconds, a medium, a
    category, several assignees, a global one, a private one."""
    with api_world.grc.session() as s:
        admin = users.get_user(s, "admin")
        alice = users.get_user(s, "alice")
        categories.add_category(s, admin, "visit_page", label_fr="Visite")
        start = datetime(2026, 5, 4, 8, 30, 15, 123456, tzinfo=UTC)
        exchanges.create_exchange(
            s, alice, subject="Démo « produit »", details="Ligne 1\nLigne 2", start=start,
            end=start + timedelta(hours=1), action="meeting", medium="on_site",
            category="visit_page", company_id=api_world.ids["acme"],
            assignees=["alice", "bob"],
        )  # fmt: skip
        exchanges.create_exchange(s, alice, subject="Global", start=start, action="call")
    return api_world


def _conforms(page: dict[str, Any], components: dict[str, Any]) -> None:
    schema = {"$ref": "#/components/schemas/HistoryPage", "components": {"schemas": components}}
    jsonschema_rs.Draft202012Validator(schema).validate(page)
    assert HistoryPage.model_validate(page).model_dump(mode="json") == page


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/companies/{acme}/history",
        "/api/v1/companies/{acme}/history?limit=1",
        "/api/v1/users/alice/history",
        "/api/v1/history",
    ],
)
def test_pages_are_what_the_schema_and_the_model_say(page_world, app, client, path):
    components = app.openapi()["components"]["schemas"]
    page = client.get(
        path.format(acme=page_world.ids["acme"]), headers=page_world.headers("entitled")
    ).json()
    assert page["items"], page
    _conforms(page, components)
    if page["next"]:
        following = client.get(page["next"], headers=page_world.headers("entitled"))
        assert following.status_code == 200
        _conforms(following.json(), components)


def test_entries_are_written_as_the_model_writes_them(page_world):
    with page_world.grc.acting_as("alice", read_only=True) as work:
        entries = histories.user_history(work.session, work.actor, work.actor.id).entries
        entries += histories.global_history(work.session, work.actor).entries
    kinds = {(e.medium is None, e.category is None, e.company_id is None) for e in entries}
    assert len(kinds) >= 2 and any(e.start_at.microsecond for e in entries)
    for entry in entries:
        # The same bytes as the model's JSON, through the renderer and through its fallback.
        model = EntryOut.of(entry).model_dump(mode="json")
        assert dumps(EntryOut.wire(entry)) == dumps(model)
        assert json.loads(dumps({"big": 2**70, "entry": EntryOut.wire(entry)})) == {
            "big": 2**70,
            "entry": model,
        }


def test_a_missing_company_is_still_404_and_an_empty_one_an_empty_page(page_world, client):
    headers = page_world.headers("entitled")
    missing = client.get("/api/v1/companies/999999/history", headers=headers)
    assert missing.status_code == 404
    empty = client.get(f"/api/v1/companies/{page_world.ids['other']}/history", headers=headers)
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_cursor": None, "next": None}


def test_filters_are_read_from_the_query(page_world, client):
    headers = page_world.headers("entitled")
    base = f"/api/v1/companies/{page_world.ids['acme']}/history"
    meetings = client.get(f"{base}?action=meeting&medium=on_site", headers=headers).json()
    assert [e["subject"] for e in meetings["items"]] == ["Démo « produit »"]
    calls = client.get(f"{base}?action=call&assignee=alice", headers=headers).json()
    assert calls["items"] and {e["action"] for e in calls["items"]} == {"call"}
    late = client.get(f"{base}?since=2026-05-01T00:00:00Z", headers=headers).json()
    assert [e["subject"] for e in late["items"]] == ["Démo « produit »"]
    bad = client.get(f"{base}?field=budget", headers=headers)
    assert bad.status_code == 422
    assert client.get(f"{base}?author=nobody", headers=headers).status_code == 404
