"""Ids beyond what the database's integer columns hold are the client's mistake: never a
5xx.  PostgreSQL refuses them (integer out of range) and the API answers 422 saying what is
accepted; SQLite has no such limit, so the record is simply not found."""

from __future__ import annotations

import httpx
import pytest
from tests.api.conftest import ApiWorld

HUGE = 549_755_813_889  # beyond 2**31 - 1


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/companies/{HUGE}",
        f"/api/v1/companies/{HUGE}/history",
        f"/api/v1/exchanges/{HUGE}",
        f"/api/v1/opportunities/{HUGE}",
    ],
)
def test_an_id_beyond_the_integer_columns_is_refused_not_a_crash(
    client: httpx.Client, api_world: ApiWorld, path: str
):
    response = client.get(path, headers=api_world.headers("admin"))
    assert response.headers["content-type"].startswith("application/problem+json")
    if api_world.url.startswith("postgresql"):
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith("out-of-range")
        assert "2,147,483,647" in problem["detail"]
    else:
        assert response.status_code == 404, response.text
