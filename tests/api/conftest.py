"""Fixtures of the HTTP API tests: a migrated database per module and kind, a populated
world (users of every kind, a private exchange), tokens, and clients in-process (httpx's
ASGI transport) — the tests against a real uvicorn server start one themselves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import DATABASES, DatabaseFactory

from grc_api import ApiSettings, create_app
from grc_core.config import Settings
from grc_core.facade import Grc
from grc_core.models import ApiToken
from grc_core.services import api_tokens, companies, exchanges, opportunities, users

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: The kinds of caller the authorization matrix tries every operation with.
PRINCIPALS = (
    "anonymous",
    "expired",
    "revoked",
    "deactivated",
    "ordinary",
    "entitled",
    "admin",
)


@dataclass
class ApiWorld:
    """A committed database: users of every kind with tokens, records, a private exchange."""

    grc: Grc
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    storage: str = ""

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if who != "anonymous":
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return headers


def build_world(grc: Grc) -> ApiWorld:
    world = ApiWorld(grc, grc.settings.database_url)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        entitled = users.create_user(s, admin, login="alice", display_name="Alice")
        ordinary = users.create_user(s, admin, login="bob", display_name="Bob")
        gone = users.create_user(s, admin, login="dan", display_name="Dan")
        acme = companies.create_company(s, admin, name="ACME", status="client")
        other = companies.create_company(s, admin, name="Globex")
        contact = companies.create_contact(s, admin, acme.id, last_name="Durand")
        deal = opportunities.create_opportunity(s, admin, acme.id, title="Renouvellement")
        private = exchanges.create_exchange(
            s, entitled, subject="Secret plan", start=T0, action="call", company_id=acme.id,
            private=True, details="Narwhal", opportunity_ids=[deal.id],
        )  # fmt: skip
        shared = exchanges.create_exchange(
            s, entitled, subject="Team call", start=T0 + timedelta(hours=1), action="call",
            company_id=acme.id,
        )  # fmt: skip
        for who, user in (
            ("admin", admin),
            ("entitled", entitled),
            ("ordinary", ordinary),
            ("deactivated", gone),
            ("expired", ordinary),
            ("revoked", ordinary),
        ):
            world.tokens[who] = api_tokens.create_token(s, admin, user, name=who).secret
        s.flush()
        for token in s.query(ApiToken).all():
            if token.name == "expired":
                token.expires_at = datetime.now(UTC) - timedelta(minutes=1)
            if token.name == "revoked":
                token.revoked_at = datetime.now(UTC)
        users.update_user(s, admin, gone, active=False)
        world.ids.update(
            admin=admin.id,
            alice=entitled.id,
            bob=ordinary.id,
            acme=acme.id,
            other=other.id,
            contact=contact.id,
            deal=deal.id,
            private=private.id,
            private_uuid=str(private.uuid),
            shared=shared.id,
        )
    return world


@pytest.fixture(scope="module", params=DATABASES)
def api_world(
    request: pytest.FixtureRequest,
    db_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiWorld]:
    """A fresh, migrated, populated database per test module and database kind."""
    storage = tmp_path_factory.mktemp("blobs")
    settings = Settings(
        database_url=db_factory.url(request.param), storage={"local": {"root": str(storage)}}
    )
    grc = Grc(settings)
    grc.upgrade()
    world = build_world(grc)
    world.storage = str(storage)
    yield world
    grc.dispose()


@pytest.fixture(scope="module")
def app(api_world: ApiWorld) -> Any:
    return create_app(api_world.grc, settings=ApiSettings(auth_failures=1000))


@pytest.fixture
def client(app: Any) -> Iterator[httpx.Client]:
    """A synchronous client calling the application in-process."""
    with _client(app) as c:
        yield c


def _client(app: Any) -> httpx.Client:
    import warnings

    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    return TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
