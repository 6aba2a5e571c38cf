"""The HTTP API on a primary with a read replica: replay paused, a client's own change is
readable at once, another user's reads come from the replica, and authentication never
waits for the replica (a token created a moment ago signs in)."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

from grc_api import create_app
from grc_core.config import Settings
from grc_core.facade import Grc
from grc_core.services import api_tokens, companies, users

from .cluster import Replicated
from .test_replica import an_admin, replay_paused


@pytest.fixture
def grc(replicated: Replicated) -> Iterator[Grc]:
    with Grc(Settings(database_url=replicated.primary_url, read_url=replicated.replica_url)) as g:
        yield g


def test_a_client_reads_its_own_change_and_others_read_the_replica(
    replicated: Replicated, grc: Grc
) -> None:
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    tag = uuid.uuid4().hex[:6]
    with replay_paused(replicated):
        # All of this is on the primary only: the replica has not replayed it.
        with grc.session() as s:
            admin = an_admin(s, tag)
            carol = users.create_user(s, admin, login=f"carol{tag}", display_name="Carol")
            dave = users.create_user(s, admin, login=f"dave{tag}", display_name="Dave")
            firm = companies.create_company(s, admin, name=f"Firm {tag}", status="client")
            s.flush()
            firm_id = firm.id
            carol_token = api_tokens.create_token(s, admin, carol).secret
            dave_token = api_tokens.create_token(s, admin, dave).secret
        client = TestClient(create_app(grc), raise_server_exceptions=False)
        as_carol = {"Authorization": f"Bearer {carol_token}"}
        as_dave = {"Authorization": f"Bearer {dave_token}"}
        grc.read_your_writes_window = 60.0  # however slow this machine is
        made = client.post(
            "/api/v1/exchanges",
            json={
                "subject": "Démo",
                "start": "2026-03-02T09:00:00Z",
                "action": "call",
                "company_id": firm_id,
            },
            headers=as_carol,
        )
        assert made.status_code == 201, made.text  # signed in against the primary
        shown = client.get(f"/api/v1/exchanges/{made.json()['id']}", headers=as_carol)
        assert shown.status_code == 200, shown.text
        listed = client.get(f"/api/v1/exchanges?company_id={firm_id}", headers=as_carol)
        assert [e["id"] for e in listed.json()] == [made.json()["id"]]
        # Dave changed nothing: his reads are served by the replica, which lacks even
        # his own account; the read fails rather than answering from the primary.
        other = client.get(f"/api/v1/exchanges?company_id={firm_id}", headers=as_dave)
        assert other.status_code in (403, 404), other.text
    # Replayed: Dave reads the same history from the replica.
    listed = client.get(f"/api/v1/exchanges?company_id={firm_id}", headers=as_dave)
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()] == [made.json()["id"]]
