"""The ``inbox`` channel: each message becomes an :class:`~grc_core.models.InboxItem`.

A database channel: the rows are written through the pipeline's session, in the transaction
that marks the deliveries sent, so an alert exists exactly when its delivery is marked sent.
The unique ``delivery_id`` of inbox items is a second guard: a message whose item already
exists is reported delivered without writing another.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.models import InboxItem, User
from grc_core.notify.channels import OutgoingMessage, SendResult

#: The longest title an inbox item holds (its column's size).
TITLE_MAX = 300


class InboxChannel:
    """Writes one inbox item per message, for the recipient."""

    name = "inbox"
    #: Writes only through the session it is given: delivered exactly once.
    transactional = True

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Add an inbox item per message; a recipient who is not an active user fails alone."""
        if not messages:
            return []
        ids = [m.delivery_id for m in messages]
        existing = set(
            session.scalars(select(InboxItem.delivery_id).where(InboxItem.delivery_id.in_(ids)))
        )
        # (Not dict(result): a Result has keys(), so dict() would take it for a mapping.)
        active = {
            user_id: is_active
            for user_id, is_active in session.execute(
                select(User.id, User.active).where(
                    User.id.in_({m.recipient.user_id for m in messages})
                )
            )
        }
        results = []
        for message in messages:
            ident, user_id = message.delivery_id, message.recipient.user_id
            if ident in existing:
                results.append(SendResult.sent(ident, f"inbox:{ident}"))
            elif user_id not in active:
                results.append(SendResult.failed(ident, f"no user {user_id}", retryable=False))
            elif not active[user_id]:
                error = f"user {message.recipient.login!r} is deactivated"
                results.append(SendResult.failed(ident, error, retryable=False))
            else:
                title = " ".join(message.subject.split())[:TITLE_MAX] or "(GRC)"
                session.add(
                    InboxItem(
                        user_id=user_id,
                        delivery_id=ident,
                        title=title,
                        body=message.text,
                        about=dict(message.about),
                    )
                )
                existing.add(ident)
                results.append(SendResult.sent(ident, f"inbox:{ident}"))
        session.flush()
        return results

    def close(self) -> None:
        """Nothing to release."""
