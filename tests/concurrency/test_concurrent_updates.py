"""Four processes update the same exchanges at once (defect 5), on committed databases.

Each child runs 100 updates of three shared exchanges: subject changes with and without an
expected version, the same custom fields set and cleared (so they are often not yet set when
two processes write them), assignees replaced.  Every refusal must be a typed ``Conflict``,
no raw database error may escape, and the audit trail must chain: each event's old values
are the previous event's new values, the last ones are what is stored, and the version
counts the events.
"""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.models import Event, Exchange
from grc_core.services import custom_fields, exchanges, users
from grc_core.services.exchanges import snapshot

from .workers import FIELDS, USERS, update_worker

PROCESSES = 4
OPERATIONS = 100


def _prepare(url: str) -> list[int]:
    engine = create_db_engine(url)
    schema.upgrade(engine)
    with Session(engine) as session, session.begin():
        admin = users.create_user(session, None, login="admin", display_name="A", is_admin=True)
        for login in USERS:
            users.create_user(session, admin, login=login, display_name=login.title())
        for code in FIELDS:
            custom_fields.define_field(session, admin, code, label=code.title(), type="text")
        alice = users.get_user(session, "alice")
        ids = [
            exchanges.create_exchange(
                session,
                alice,
                subject=f"Partagé {n}",
                start=datetime(2026, 3, 2, 9, n, tzinfo=UTC),
                action="call",
                assignees=["alice"],
            ).id
            for n in range(3)
        ]
    engine.dispose()
    return ids


def _check_audit_chain(url: str, ids: list[int]) -> int:
    """Walk every exchange's events; return how many updates they record."""
    engine = create_db_engine(url)
    updates = 0
    try:
        with Session(engine) as session:
            for ident in ids:
                events = session.scalars(
                    select(Event)
                    .where(Event.entity_type == "exchange", Event.entity_id == ident)
                    .order_by(Event.id)
                ).all()
                assert events[0].kind == "exchange.created"
                state = {k: new for k, (_old, new) in events[0].changes.items()}
                writers = [
                    e.changes["subject"][1].split()[0] for e in events[1:] if "subject" in e.changes
                ]
                # The processes really ran at the same time: their changes interleave.
                switches = sum(a != b for a, b in pairwise(writers))
                assert switches >= 3, writers
                for event in events[1:]:
                    assert event.kind in ("exchange.updated", "exchange.completed")
                    for name, (old, new) in event.changes.items():
                        assert old == state.get(name), (ident, event.id, name, old, state.get(name))
                        state[name] = new
                exchange = session.get(Exchange, ident)
                stored = snapshot(exchange)
                assert {k: stored[k] for k in state} == state
                # One version step per recorded change, none lost, none without its event.
                assert exchange.version == len(events)
                updates += len(events) - 1
    finally:
        engine.dispose()
    return updates


def test_four_processes_updating_the_same_exchanges(fresh_url, tmp_path):
    ids = _prepare(fresh_url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    outputs = [tmp_path / f"worker{n}.json" for n in range(PROCESSES)]
    children = [
        context.Process(
            target=update_worker,
            args=(fresh_url, ids, n, OPERATIONS, str(outputs[n]), barrier),
        )
        for n in range(PROCESSES)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=300)
    codes = [child.exitcode for child in children]
    results = [json.loads(out.read_text()) for out in outputs if out.exists()]
    raw = [error for result in results for error in result["raw"]]
    assert raw == [], raw[:3]
    assert codes == [0] * PROCESSES, codes
    assert len(results) == PROCESSES

    done = sum(sum(r["done"].values()) for r in results)
    conflicts = {}
    for result in results:
        for name, count in result["conflicts"].items():
            conflicts[name] = conflicts.get(name, 0) + count
    assert done + sum(conflicts.values()) == PROCESSES * OPERATIONS
    # Only updates that named a version they had read may be refused; the others queue.
    assert set(conflicts) <= {"versioned:VersionConflict"}, conflicts
    assert conflicts.get("versioned:VersionConflict", 0) > 0, "no update raced another one"
    assert all(r["done"].get(kind) for r in results for kind in ("subject", "custom"))

    recorded = _check_audit_chain(fresh_url, ids)
    print(f"{done} updates applied, refusals {conflicts}, {recorded} audited changes")
    # Subject changes always change something: at least those are recorded.
    subjects = sum(r["done"].get("subject", 0) + r["done"].get("versioned", 0) for r in results)
    assert recorded >= subjects
