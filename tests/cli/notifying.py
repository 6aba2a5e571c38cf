"""Helpers of the notification command tests: a small CRM, exchanges, the deliveries table."""

from __future__ import annotations

import mailbox
import socket
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from grc_core.models import Delivery

from .runner import Grc

#: The channels that need settings: without them each costs a warning line.
UNCONFIGURED = ("email", "report", "sms")


def crm(team: Grc) -> Grc:
    """``team`` with e-mail addresses and ACME (company 1), a client owned by carol."""
    for login in ("alice", "bob", "carol"):
        team.ok("user", "update", login, "--email", f"{login}@example.fr", as_="admin")
    team.ok("company", "add", "ACME", "--owner", "carol", "--status", "client", as_="admin")
    # The set-up's own audit events (users, company) are fanned out now: the tests count
    # the events of what they do.
    team.ok("notify", "run-once")
    return team


def record(grc: Grc, login: str = "bob", *args: str, **fields: str) -> int:
    """Record an exchange at ACME; returns its id."""
    values = {"subject": "Visite annuelle", "action": "meeting", "start": "2026-06-01 10:00"}
    values |= fields
    options = [part for key, value in values.items() for part in (f"--{key}", value)]
    return int(grc.json("exchange", "add", "--company", "1", *options, *args, as_=login)["id"])


def deliveries(grc: Grc) -> list[dict[str, Any]]:
    """Every delivery row, oldest first (the tests look behind the commands)."""
    assert grc.url is not None
    engine = create_engine(grc.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Delivery.__table__).order_by(Delivery.id)).mappings()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def read_mbox(path: Path) -> list[dict[str, str]]:
    """The headers and text of every message in an mbox file."""
    box = mailbox.mbox(path, create=False)
    try:
        messages = []
        for message in box:
            headers = {
                name: str(make_header(decode_header(message.get(name, ""))))
                for name in ("Subject", "From", "To", "Message-ID", "X-GRC-Delivery")
            }
            payload = message.get_payload(decode=True)
            body = payload.decode("utf-8") if isinstance(payload, bytes) else ""
            messages.append(headers | {"body": body})
        return messages
    finally:
        box.close()


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
