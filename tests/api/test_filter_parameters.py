"""The history filters are read from the query string by hand, not by FastAPI's parameter
solving: they must be read exactly as FastAPI read them, fail with the same 422 problems, and
stay documented the same way.

A probe application declares the filters as FastAPI parameters (as the routes did before) and
another reads them like the routes do now; every query gets the same answer from both.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient

from grc_api import create_app, problems
from grc_api.routes.history import Filters, _declared_filters, _filters
from grc_core.facade import Grc


def _as_data(filters: Filters) -> dict[str, Any]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in vars(filters).items()
    }


def _probe() -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/declared/{ident}")
    async def declared(
        ident: int,
        filters: Annotated[Filters, Depends(_declared_filters)],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        return {"ident": ident, "limit": limit, **_as_data(filters)}

    @app.get("/read/{ident}")
    async def read(
        ident: int,
        filters: Annotated[Filters, Depends(_filters)],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        return {"ident": ident, "limit": limit, **_as_data(filters)}

    return TestClient(app)


QUERIES = [
    "",
    "since=2024-01-01T00:00:00Z&until=2024-02-01T00:00:00%2B01:00",
    "since=2024-01-01",
    "since=notadate",
    "since=2024-01-01T00:00:00Z&since=bad",
    "until=",
    "action=call&action=meeting&status=done&medium=phone",
    "&".join(["action=call"] * 20),
    "&".join(["action=call"] * 21),
    "&".join(["field=budget:ge:1"] * 21),
    "medium=",
    "category=visits&author=alice&assignee=bob",
    "private=true&has_attachments=0",
    "private=maybe",
    "private=",
    "private=true&private=false",
    "has_attachments=yes&private=no",
    "field=budget:ge:1000&field=bad",
    "since=bad&limit=0",
    "since=bad&private=perhaps&limit=500",
    "limit=0",
    "unknown=1&since=2024-01-01T00:00:00Z",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("ident", ["7", "x"])
def test_filters_read_by_hand_answer_as_fastapi_did(query, ident):
    client = _probe()
    declared = client.get(f"/declared/{ident}?{query}")
    read = client.get(f"/read/{ident}?{query}")
    assert read.status_code == declared.status_code
    first, second = declared.json(), read.json()
    for body in (first, second):
        if isinstance(body, dict):
            body.pop("instance", None)
            body.pop("request_id", None)
    assert second == first


def test_some_queries_are_refused_and_some_accepted():
    # The comparison above is only worth something if both outcomes occur.
    client = _probe()
    assert client.get("/read/7?private=maybe").status_code == 422
    refused = client.get("/read/x?since=bad&limit=0").json()
    assert [e["field"] for e in refused["errors"]] == ["since", "ident", "limit"]
    accepted = client.get("/read/7?action=call&action=meeting&private=false").json()
    assert accepted["action"] == ["call", "meeting"] and accepted["private"] is False


def test_history_routes_still_document_every_filter():
    app = create_app(Grc.from_url("sqlite:///:memory:"))
    paths = app.openapi()["paths"]
    filters = [
        "since", "until", "action", "status", "medium", "category", "author", "assignee",
        "private", "has_attachments", "field",
    ]  # fmt: skip
    for path, own in {
        "/api/v1/companies/{company_id}/history": ["company_id", "limit", "cursor"],
        "/api/v1/opportunities/{opportunity_id}/history": ["opportunity_id", "limit", "cursor"],
        "/api/v1/users/{login}/history": ["login", "limit", "cursor"],
        "/api/v1/history": ["limit", "cursor"],
        "/api/v1/search": ["q", "company_id", "limit"],
    }.items():
        names = [p["name"] for p in paths[path]["get"]["parameters"]]
        assert names == own + filters, path
