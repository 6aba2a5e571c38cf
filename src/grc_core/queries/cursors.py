"""Opaque, signed keyset cursors.

A cursor names the last row of a page — its start time and id — plus a fingerprint of the
query it belongs to (scope, filters, reader).  It is signed with the installation's key:
a client cannot forge one, nor replay it on another query or as another user.  (Forging
would not reveal anything anyway — every page applies the visibility rule — but a tampered
cursor is a bug or an attack, and is refused with a clear error.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grc_core.errors import ValidationError
from grc_core.models import Installation

_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


class InvalidCursor(ValidationError):
    """A cursor that was not issued by this installation for this query."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's start and id."""

    start_at: datetime
    id: int


def _key(session: Session) -> bytes:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    key = _keys.get(engine)  # type: ignore[arg-type]
    if key is None:
        key = bytes.fromhex(session.scalars(select(Installation.cursor_key)).one())
        _keys[engine] = key  # type: ignore[index]
    return key


def fingerprint(*parts: object) -> str:
    """A short digest identifying the query a cursor belongs to."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def encode(session: Session, position: Position, query: str) -> str:
    """A signed cursor for ``position`` in the query fingerprinted ``query``."""
    payload = json.dumps(
        {"s": position.start_at.isoformat(), "i": position.id, "q": query}, separators=(",", ":")
    ).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=")
    tag = hmac.new(_key(session), body, hashlib.sha256).digest()[:16]
    return (body + b"." + base64.urlsafe_b64encode(tag).rstrip(b"=")).decode()


def decode(session: Session, cursor: str, query: str) -> Position:
    """The position in ``cursor``, checked against the signature and the query."""
    if not isinstance(cursor, str) or len(cursor) > 512 or cursor.count(".") != 1:
        raise InvalidCursor("malformed cursor: pass back the next_cursor of a previous page")
    body, tag = cursor.encode().split(b".")
    expected = hmac.new(_key(session), body, hashlib.sha256).digest()[:16]
    try:
        given = base64.urlsafe_b64decode(tag + b"=" * (-len(tag) % 4))
        data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        raise InvalidCursor(
            "malformed cursor: pass back the next_cursor of a previous page"
        ) from None
    if not hmac.compare_digest(given, expected):
        raise InvalidCursor("this cursor was not issued by this installation (bad signature)")
    if data.get("q") != query:
        raise InvalidCursor("this cursor belongs to another query, filter or user")
    return Position(datetime.fromisoformat(data["s"]), int(data["i"]))
