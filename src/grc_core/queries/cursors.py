"""Opaque, signed keyset cursors.

A cursor names the last row of a page — its start time and id — plus a fingerprint of the
query it belongs to (scope, filters, reader).  It is signed with the installation's key:
a client cannot forge one, nor replay it on another query or as another user.  (Forging
would not reveal anything anyway — every page applies the visibility rule — but a tampered
cursor is a bug or an attack, and is refused with a clear error.)

The key lives in the database (``installation.cursor_key``) and can be replaced with
:func:`rotate_key` (``grc db rotate-cursor-key``).  Each process caches it per engine and
reads it again once the cached copy is :data:`KEY_REFRESH_SECONDS` old, so a rotation
reaches every running process within that delay; cursors signed with the previous key are
then refused (there is no grace period: a client whose cursor is refused starts again from
the first page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from grc_core.errors import ValidationError
from grc_core.models import Installation

#: How long (seconds) a process keeps using the key it read before reading it again: the
#: longest a rotated key may still be accepted, or a new one refused, by a running process.
KEY_REFRESH_SECONDS: float = 30.0

#: engine -> (key, when it was read, on the monotonic clock)
_keys: weakref.WeakKeyDictionary[Engine, tuple[bytes, float]] = weakref.WeakKeyDictionary()


class InvalidCursor(ValidationError):
    """A cursor that was not issued by this installation for this query."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's start and id."""

    start_at: datetime
    id: int


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _key(session: Session) -> bytes:
    engine = _engine(session)
    now = time.monotonic()
    cached = _keys.get(engine)
    if cached is not None and now - cached[1] < KEY_REFRESH_SECONDS:
        return cached[0]
    key = bytes.fromhex(session.scalars(select(Installation.cursor_key)).one())
    _keys[engine] = (key, now)
    return key


def rotate_key(session: Session) -> None:
    """Replace the installation's cursor signing key, in the caller's transaction.

    Once committed, cursors signed with the old key are refused
    (:class:`InvalidCursor`): at once by this process, and by every other one within
    :data:`KEY_REFRESH_SECONDS`.  Rotate when a key may have leaked (a database copy, a
    backup), or routinely; clients holding a cursor start their walk again from the first
    page.
    """
    installation = session.scalars(select(Installation).with_for_update()).one()
    installation.cursor_key = secrets.token_hex(32)
    session.flush()
    engine = _engine(session)

    def forget(_session: Session) -> None:
        _keys.pop(engine, None)

    # This process forgets its copy once the new key is committed (and now, so that it does
    # not cache the old one again meanwhile for a whole refresh period).
    _keys.pop(engine, None)
    event.listen(session, "after_commit", forget, once=True)


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
        raise InvalidCursor(
            "this cursor was not issued by this installation, or its signing key has been "
            "rotated since (bad signature): start again from the first page"
        )
    if data.get("q") != query:
        raise InvalidCursor("this cursor belongs to another query, filter or user")
    return Position(datetime.fromisoformat(data["s"]), int(data["i"]))
