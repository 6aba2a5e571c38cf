"""Fixtures for attachment tests: local disk backends and a committing facade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.services import companies, exchanges, users


@pytest.fixture
def backends(tmp_path) -> Backends:
    return Backends.of(
        {
            "local": LocalDiskBackend(tmp_path / "blobs"),
            "archive": LocalDiskBackend(tmp_path / "archive"),
        },
        default="local",
    )


class App:
    """A migrated database with users, a company and exchanges, committed."""

    def __init__(self, url: str, backends: Backends) -> None:
        self.grc = Grc.from_url(url)
        self.backends = backends
        self.grc.upgrade()
        start = datetime(2026, 4, 1, 9, tzinfo=UTC)
        with self.grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            for login in ("alice", "bob", "carol"):
                users.create_user(s, admin, login=login, display_name=login.title())
            company = companies.create_company(s, admin, name="ACME Industries")
            alice = users.get_user(s, "alice")
            self.company_id = company.id
            self.shared_id = exchanges.create_exchange(
                s, alice, subject="Visite", start=start, action="meeting", company_id=company.id
            ).id
            self.private_id = exchanges.create_exchange(
                s,
                alice,
                subject="Note privée",
                start=start,
                action="note",
                company_id=company.id,
                private=True,
                assignees=["bob"],
            ).id


@pytest.fixture
def app(fresh_url, backends) -> Iterator[App]:
    application = App(fresh_url, backends)
    yield application
    application.grc.dispose()
