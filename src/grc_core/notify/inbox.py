"""A user's on-screen inbox: the alerts the ``inbox`` channel wrote for them.

Every function acts for ``actor`` on ``actor``'s own items only: an item of somebody else
is reported as not found, like one that does not exist, so its existence does not leak.
Items are listed newest first, a page at a time (``before``: the last id of the previous
page), from the ``(user_id, read_at, id)`` index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grc_core.errors import NotFound, ValidationError
from grc_core.models import InboxItem, User
from grc_core.timeutil import utcnow

MAX_PAGE = 200


@dataclass(frozen=True)
class InboxEntry:
    """One alert, as an inbox shows it.

    :param id: the item's id (for :func:`mark_read`).
    :param title: one line.
    :param body: the text.
    :param about: what it is about (``exchange_id``, ``company_id``…).
    :param created_at: when it arrived (UTC).
    :param read_at: when it was marked read, or ``None``.
    """

    id: int
    title: str
    body: str
    about: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        """Not marked read yet."""
        return self.read_at is None


def list_inbox(
    session: Session,
    actor: User,
    *,
    unread_only: bool = False,
    limit: int = 50,
    before: int | None = None,
) -> list[InboxEntry]:
    """``actor``'s items, newest first.

    :param unread_only: leave out the items already read.
    :param limit: at most this many (1 to 200).
    :param before: only items older than this item id (the next page).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit}", field="limit")
    stmt = select(InboxItem).where(InboxItem.user_id == actor.id)
    if unread_only:
        stmt = stmt.where(InboxItem.read_at.is_(None))
    if before is not None:
        stmt = stmt.where(InboxItem.id < before)
    rows = session.scalars(stmt.order_by(InboxItem.id.desc()).limit(limit))
    return [
        InboxEntry(
            id=row.id,
            title=row.title,
            body=row.body,
            about=dict(row.about or {}),
            created_at=row.created_at,
            read_at=row.read_at,
        )
        for row in rows
    ]


def unread_count(session: Session, actor: User) -> int:
    """How many of ``actor``'s items are unread."""
    return (
        session.scalar(
            select(func.count())
            .select_from(InboxItem)
            .where(InboxItem.user_id == actor.id, InboxItem.read_at.is_(None))
        )
        or 0
    )


def mark_read(session: Session, actor: User, item_ids: Sequence[int] | Literal["all"]) -> int:
    """Mark items read; returns how many were unread until now.

    :param item_ids: item ids of ``actor``'s, or ``"all"`` for every unread item.
    :raises NotFound: an id is not one of ``actor``'s items (nothing is marked then).
    """
    now = utcnow()
    if item_ids == "all":
        stmt = update(InboxItem).where(InboxItem.user_id == actor.id, InboxItem.read_at.is_(None))
    else:
        wanted = {int(i) for i in item_ids}
        if not wanted:
            return 0
        owned = set(
            session.scalars(
                select(InboxItem.id).where(InboxItem.id.in_(wanted), InboxItem.user_id == actor.id)
            )
        )
        missing = sorted(wanted - owned)
        if missing:
            raise NotFound(f"no inbox item {', '.join(map(str, missing))} for {actor.login!r}")
        stmt = update(InboxItem).where(InboxItem.id.in_(owned), InboxItem.read_at.is_(None))
    result = session.execute(stmt.values(read_at=now))
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
