"""Child processes of the concurrency tests (importable, so that ``spawn`` can start them)."""

from __future__ import annotations

import json
import random
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from grc_core.db import create_db_engine
from grc_core.errors import Conflict, GrcError
from grc_core.models import Exchange, User
from grc_core.services import exchanges

#: The custom fields the workers race to set (and clear, so they become unset again).
FIELDS = ("source", "canal", "relance", "note")
USERS = ("alice", "bob", "carol")


def _choose(rng: random.Random, worker: int, step: int) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.25:
        return "versioned", {"subject": f"w{worker} s{step} (versioned)"}
    if roll < 0.55:
        return "subject", {"subject": f"w{worker} s{step}"}
    if roll < 0.8:
        field = rng.choice(FIELDS)
        value = None if rng.random() < 0.3 else f"w{worker}-{step}"
        return "custom", {"custom": {field: value}}
    return "assignees", {"assignees": rng.sample(USERS, rng.randint(1, len(USERS)))}


def _update(engine: Any, ident: int, kind: str, changes: dict[str, Any]) -> None:
    """One update in its own transaction; a versioned one first reads the version, as a
    client would, in an earlier transaction."""
    expected: int | None = None
    if kind == "versioned":
        with Session(engine) as session:
            expected = session.get(Exchange, ident).version
        time.sleep(random.random() / 200)  # the person looks at the form before saving
    with Session(engine) as session, session.begin():
        actor = session.query(User).filter_by(login="alice").one()
        exchanges.update_exchange(session, actor, ident, expected_version=expected, **changes)


def update_worker(
    url: str, ids: list[int], worker: int, operations: int, out: str, barrier: Any
) -> None:
    """Run ``operations`` conflicting updates of ``ids``; write the outcomes to ``out``.

    Exits with status 0 when every refusal was a typed ``Conflict``, 3 when any other error
    (a raw database error above all) escaped the library.
    """
    rng = random.Random(1000 + worker)
    engine = create_db_engine(url)
    done: dict[str, int] = {}
    conflicts: dict[str, int] = {}
    raw: list[str] = []
    barrier.wait(timeout=60)
    for step in range(operations):
        ident = rng.choice(ids)
        kind, changes = _choose(rng, worker, step)
        try:
            _update(engine, ident, kind, changes)
            done[kind] = done.get(kind, 0) + 1
        except Conflict as exc:
            name = f"{kind}:{type(exc).__name__}"
            conflicts[name] = conflicts.get(name, 0) + 1
        except GrcError as exc:  # typed, but not what concurrency may cause
            raw.append(f"{type(exc).__name__}: {exc}")
        except Exception:  # raw database errors and the like: the defect
            raw.append(traceback.format_exc(limit=3))
    engine.dispose()
    Path(out).write_text(json.dumps({"done": done, "conflicts": conflicts, "raw": raw}))
    raise SystemExit(3 if raw else 0)
