"""A small host application that embeds GRC exchanges.

The host is a pretend order-management application ("Négoce").  It owns its staff and its
customer records; GRC records the exchanges with those customers.  The host:

- builds a :class:`~grc_core.facade.Grc` from a database URL and brings the schema up to date;
- creates the GRC users for its staff, keyed by the staff member's id in the host;
- maps its customer record to a GRC company through an external reference;
- records exchanges typed at a desk and sent by a sales engineer's phone, each with a UUID chosen
  by the client, so that a retry after a lost connection never records an exchange twice;
- changes a company's status and records an exchange in one transaction of its own;
- lists the customer's exchanges as each colleague may see them;
- turns a refused input into a message for the person who typed it.

Every step is idempotent: running it twice on the same database changes nothing the second time.

Run it with ``python examples/host_app.py [DATABASE_URL]`` (default: ``sqlite:///host-app.sqlite3``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from grc_core import Grc, NotFound, ValidationError
from grc_core.queries.exchanges import ExchangeFilter, exchanges_query
from grc_core.services import companies, exchanges, users

#: The zone the host's users work in; GRC stores UTC and gives back UTC.
PARIS = ZoneInfo("Europe/Paris")

#: Namespace of the UUIDs the host derives from its own record ids.
HOST_NAMESPACE = uuid.UUID("0b6f3d5e-8c1a-4f57-9a43-2f0e6c1d7b90")

#: The host's staff: its own id, the login it authenticates them with, and their rights.
STAFF = [
    {"id": "EMP-001", "login": "admin", "name": "Administrateur GRC", "admin": True},
    {"id": "EMP-042", "login": "alice", "name": "Alice Martin", "admin": False},
    {"id": "EMP-043", "login": "bob", "name": "Bob Durand", "admin": False},
]

#: One customer record of the host, still a prospect.
CUSTOMER = {"id": "CUST-1001", "name": "ACME Industrie", "status": "prospect"}


@dataclass(frozen=True)
class Report:
    """What the host did, for a person to read or a test to check."""

    company_id: int
    exchange_ids: list[int]
    retry_ids: tuple[int, int]
    timelines: dict[str, list[str]]
    refused_field: str | None
    refused_message: str


# --8<-- [start:staff]
def ensure_staff(grc: Grc) -> None:
    """Create a GRC user for every staff member that has none yet.

    The first administrator bootstraps an empty database (``actor=None``); the other users
    are created by that administrator.
    """
    admin, *others = STAFF
    with grc.session() as session:
        try:
            users.get_user_by_ref(session, admin["id"])
        except NotFound:
            users.create_user(
                session,
                None,
                login=admin["login"],
                display_name=admin["name"],
                is_admin=True,
                external_ref=admin["id"],
            )
    with grc.acting_as(admin["login"]) as work:
        for person in others:
            try:
                users.get_user_by_ref(work.session, person["id"])
            except NotFound:
                users.create_user(
                    work.session,
                    work.actor,
                    login=person["login"],
                    display_name=person["name"],
                    is_admin=person["admin"],
                    external_ref=person["id"],
                )


# --8<-- [end:staff]
# --8<-- [start:company]
def ensure_company(grc: Grc, login: str, customer: Mapping[str, str]) -> int:
    """The id of the GRC company of a host customer, created on first use."""
    with grc.acting_as(login) as work:
        try:
            company = companies.get_company_by_ref(work.session, customer["id"])
        except NotFound:
            company = companies.create_company(
                work.session,
                work.actor,
                name=customer["name"],
                status=customer["status"],
                external_ref=customer["id"],
            )
        return company.id


# --8<-- [end:company]
# --8<-- [start:record]
def record_exchange(grc: Grc, login: str, company_id: int, payload: Mapping[str, Any]) -> int:
    """Record one exchange sent by a client (a desk screen or a phone) and return its id.

    ``payload`` is what the client sent, e.g. decoded from JSON: date-times are ISO 8601
    strings that must carry their UTC offset.  Its ``uuid`` was chosen by the client when the
    exchange was typed; sending the same payload again returns the same exchange.
    """
    with grc.acting_as(login) as work:
        exchange = exchanges.create_exchange(
            work.session,
            work.actor,
            uuid=payload["uuid"],
            company_id=company_id,
            subject=payload["subject"],
            details=payload.get("details", ""),
            action=payload["action"],
            medium=payload.get("medium"),
            status=payload.get("status", "done"),
            start=datetime.fromisoformat(payload["start"]),
            end=datetime.fromisoformat(payload["end"]) if payload.get("end") else None,
            private=payload.get("private", False),
        )
        return exchange.id


# --8<-- [end:record]
# --8<-- [start:sign]
def sign_order(grc: Grc, login: str, company_id: int, order_id: str, signed_at: datetime) -> int:
    """The customer signed an order: it becomes a client, and the signature is recorded.

    The host runs this transaction itself, in a plain SQLAlchemy session: the services flush
    and never commit, so the status change, the exchange and their audit events are committed
    together by ``session.begin()`` -- or not at all.
    """
    with Session(grc.engine) as session, session.begin():
        actor = users.get_user(session, login)
        companies.set_company_status(session, actor, company_id, "client")
        exchange = exchanges.create_exchange(
            session,
            actor,
            uuid=uuid.uuid5(HOST_NAMESPACE, f"order/{order_id}"),
            company_id=company_id,
            subject=f"Commande {order_id} signée",
            action="note",
            status="done",
            start=signed_at,
        )
        return exchange.id


# --8<-- [end:sign]
# --8<-- [start:timeline]
def timeline(grc: Grc, login: str, company_id: int) -> list[str]:
    """The company's exchanges that ``login`` may see, newest first, in the host's zone."""
    with grc.acting_as(login) as work:
        query = exchanges_query(work.session, work.actor, ExchangeFilter(company_id=company_id))
        return [
            f"{ex.start_at.astimezone(PARIS):%Y-%m-%d %H:%M} {ex.action.code:<8} {ex.subject}"
            for ex in work.session.scalars(query)
        ]


# --8<-- [end:timeline]
def scenario(grc: Grc) -> Report:
    """What the host does in a day, on a database at the current schema."""
    ensure_staff(grc)
    acme = ensure_company(grc, "alice", CUSTOMER)

    # --8<-- [start:retry]
    # Typed at a desk: the host derives the UUID from its own call-log id.
    call = {
        "uuid": str(uuid.uuid5(HOST_NAMESPACE, "call-log/7731")),
        "subject": "Relance du devis 2026-118",
        "action": "call",
        "medium": "phone",
        "start": "2026-03-02T10:30:00+01:00",
        "end": "2026-03-02T10:45:00+01:00",
    }
    note = {
        "uuid": str(uuid.uuid5(HOST_NAMESPACE, "note/5120")),
        "subject": "Négociation : marge plancher",
        "details": "Ne pas descendre sous 12 %.",
        "action": "note",
        "start": "2026-03-02T11:00:00+01:00",
        "private": True,
    }
    # Sent by Bob's phone, which generated the UUID when the report was typed.  The first
    # answer was lost in a tunnel, so the phone sends the same payload again.
    visit = {
        "uuid": "5c3d0d8e-2f4b-4d63-9a59-61b7f0c2a7e4",
        "subject": "Visite de l'atelier de Lyon",
        "details": "Trois lignes à équiper avant l'été.",
        "action": "meeting",
        "medium": "on_site",
        "start": "2026-03-03T14:00:00+01:00",
        "end": "2026-03-03T15:30:00+01:00",
    }
    ids = [
        record_exchange(grc, "alice", acme, call),
        record_exchange(grc, "alice", acme, note),
        record_exchange(grc, "bob", acme, visit),
    ]
    retry = record_exchange(grc, "bob", acme, visit)  # the same id as ids[2]
    # --8<-- [end:retry]
    ids.append(sign_order(grc, "bob", acme, "2026-118", datetime(2026, 3, 5, 9, 0, tzinfo=PARIS)))

    # --8<-- [start:refused]
    # A client that forgot the UTC offset: GRC refuses to guess the zone.
    refused_field, refused_message = None, ""
    try:
        record_exchange(
            grc, "bob", acme, {**visit, "uuid": str(uuid.uuid4()), "start": "2026-03-04T09:00:00"}
        )
    except ValidationError as exc:  # nothing was written: the transaction rolled back
        refused_field, refused_message = exc.field, str(exc)
    # --8<-- [end:refused]

    return Report(
        company_id=acme,
        exchange_ids=ids,
        retry_ids=(ids[2], retry),
        timelines={login: timeline(grc, login, acme) for login in ("admin", "alice", "bob")},
        refused_field=refused_field,
        refused_message=refused_message,
    )


# --8<-- [start:setup]
def main(url: str) -> Report:
    """Run the host's scenario against the database at ``url`` and report what happened."""
    grc = Grc.from_url(url)  # builds the engine; nothing connects before the first use
    try:
        grc.upgrade()  # creates or migrates the schema to this version's revision
        return scenario(grc)
    finally:
        grc.dispose()  # closes the pooled connections


# --8<-- [end:setup]
if __name__ == "__main__":
    report = main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///host-app.sqlite3")
    for login, lines in report.timelines.items():
        print(f"{login} sees {len(lines)} exchange(s) with company {report.company_id}:")
        for line in lines:
            print(f"  {line}")
    print(f"retried creation returned the same exchange: {report.retry_ids}")
    print(f"refused input ({report.refused_field}): {report.refused_message}")
