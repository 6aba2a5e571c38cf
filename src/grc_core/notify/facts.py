"""What an event is about, resolved once for all its recipients: :class:`Facts`.

This module sits one floor below both :mod:`grc_core.notify.fanout` (which resolves the facts
of each event) and :mod:`grc_core.notify.messages` (which writes messages from them), so that
neither imports the other: fan-out calls the messages, the messages only read the facts.
It imports nothing else from :mod:`grc_core.notify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grc_core.models import Event, Exchange, User
from grc_core.models.event import ADMIN_ONLY_KINDS
from grc_core.visibility import (
    audience_from_snapshot,
    audience_of,
    before_audience,
    can_see_audience,
    may_read_old_values,
)


@dataclass
class Facts:
    """What an event is about, resolved once for all its recipients.

    For an event about an exchange, ``exchange`` is that very record as it is now — ``None``
    once it is gone, *or when another record now has its id* (the uuid differs) — and
    ``snapshot`` its last state when it is gone.  ``audience`` is who could see it right
    after the event, ``before`` who could see it just before (``None`` for a creation).
    """

    event: Event
    exchange: Exchange | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    audience: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    company_id: int | None = None
    opportunity_ids: list[int] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    #: Rules that made the record (or the records it was made from): they must not fire
    #: on it again (no chain reaction through channel-made records).
    origin_rules: set[int] = field(default_factory=set)
    #: Mail-merge values that do not depend on the recipient, per view (filled on first use).
    template_values: dict[str, Any] | None = None
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What recipients are resolved from (owners, subscribers, users), read once per event
    #: whatever the number of rules that name them.
    lookups: dict[str, Any] = field(default_factory=dict)

    @property
    def exchange_id(self) -> int | None:
        return exchange_id_of(self.event)

    def current_audience(self) -> dict[str, Any] | None:
        """Who may see the exchange now (its last state once deleted; ``None``: unknown)."""
        if self.exchange is not None:
            return audience_of(self.exchange)
        return audience_from_snapshot(self.snapshot) if self.snapshot else None

    def event_audience(self) -> dict[str, Any] | None:
        """Who could see the exchange right after the event."""
        if self.audience is not None:
            return self.audience
        if self.event.id is None and self.exchange is not None:
            return audience_of(self.exchange)  # an escalation: about the exchange as it is
        return None

    def visible_to(self, user: User) -> bool:
        """Whether ``user`` may hear of the event: they could see the exchange right after
        it *and* can still see it now (a deleted one: on its last state).  Unknown is no."""
        if not user.active:
            return False
        if self.event.kind in ADMIN_ONLY_KINDS and not user.is_admin:
            return False
        if self.exchange_id is None:
            return True  # not about an exchange: companies, opportunities
        return can_see_audience(user, self.event_audience()) and can_see_audience(
            user, self.current_audience()
        )

    def reads_old_values(self, user: User) -> bool:
        """Whether ``user`` may be told the old values of the event's changes (they could
        see the exchange before it); otherwise the exchange is only "now shared" with them."""
        if self.exchange_id is None or self.event.id is None:
            return True
        return may_read_old_values(user, self.event_audience(), self.event.changes or {})

    def quotes_private(self) -> bool:
        """Whether a message about the event may quote a private exchange: private right
        after the event, before it, now, or unknown (a channel then keeps it private)."""
        if self.exchange_id is None:
            return False
        audiences = [self.event_audience(), self.current_audience()]
        if self.event.id is not None and self.event_audience() is not None:
            before = before_audience(self.event_audience(), self.event.changes or {})
            if before is not None:
                audiences.append(before)
        return any(a is None or bool(a.get("private", True)) for a in audiences)

    def about(self) -> dict[str, Any]:
        about: dict[str, Any] = {
            "event_id": self.event.id,
            "kind": self.event.kind,
            "exchange_id": self.exchange_id,
            "company_id": self.company_id,
            "opportunity_ids": self.opportunity_ids,
        }
        if self.exchange_id is not None:
            audience = self.event_audience() or self.current_audience() or {}
            about["exchange_uuid"] = audience.get("uuid")
            about["private"] = self.quotes_private()
        return about


def exchange_id_of(event: Event) -> int | None:
    """The id of the exchange an event is about (an attachment's exchange too), or ``None``."""
    if event.entity_type == "exchange":
        return event.entity_id
    value = (event.changes or {}).get("exchange_id")
    if isinstance(value, list) and len(value) == 2:
        found = value[1] if value[1] is not None else value[0]
        return int(found) if found is not None else None
    return None
