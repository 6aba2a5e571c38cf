"""A committed database with a small team, and a channel that records what it is given."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from grc_core import Grc
from grc_core.notify.channels import OutgoingMessage, SendResult, message_id_for
from grc_core.services import companies, opportunities, users

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class Recording:
    """An external channel stand-in: records each message; can be told to fail."""

    transactional = False

    def __init__(self, name: str = "email") -> None:
        self.name = name
        self.sent: list[OutgoingMessage] = []
        self.fail_with: tuple[str, bool] | None = None
        self.lock = threading.Lock()

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for m in messages:
            if self.fail_with is not None:
                error, retryable = self.fail_with
                results.append(SendResult.failed(m.delivery_id, error, retryable=retryable))
                continue
            with self.lock:
                self.sent.append(m)
            results.append(SendResult.sent(m.delivery_id, message_id_for(m.delivery_id)))
        return results

    def close(self) -> None:
        pass


class Clock:
    """A clock the tests move by hand (leases, back-off, quiet hours)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Team:
    def __init__(self, url: str) -> None:
        self.grc = Grc.from_url(url)
        self.grc.upgrade()
        with self.grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            for number, login in enumerate(("alice", "bob", "carol")):
                users.create_user(
                    s, admin, login=login, display_name=login.title(),
                    email=f"{login}@example.fr", phone=f"+3361000000{number}",
                )  # fmt: skip
            acme = companies.create_company(s, admin, name="ACME", owner="carol")
            other = companies.create_company(s, admin, name="Globex")
            deal = opportunities.create_opportunity(s, admin, acme.id, title="Renouvellement")
            self.acme, self.other, self.deal = acme.id, other.id, deal.id


@pytest.fixture
def team(fresh_url: str) -> Iterator[Team]:
    t = Team(fresh_url)
    yield t
    t.grc.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()
