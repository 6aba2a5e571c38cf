"""The ``task`` channel: each message becomes a To-do exchange assigned to its recipient.

The To-do is **authored by the recipient and assigned to them** — a task they own, which
they may update, complete or delete like any exchange of theirs — with the message subject
as its subject and its text as details.  It is linked to the company of the exchange the
message is about and to those of its opportunities that still belong to that company (as
they are now; as ``about`` recorded them when that exchange is gone), starts now and is due
``due_days`` later.  A digest's To-do is linked to the company all its notifications are
about, if they are all about one; it is global otherwise.

**Private when in doubt.**  The message may quote a private exchange the recipient may see
but colleagues may not — or old values from when it was private — so the To-do is private
when *any* exchange it quotes (every member of a digest) was private when the message was
written, is private now, or no longer exists (its privacy is then unknown); it is shared
only when every one of them is shared.

**Valid whatever the configuration.**  A To-do is a system record (``system=True``): the
required custom fields an administrator may add are not required of it (nobody could fill
them); links that are no longer consistent (an opportunity moved to another company) are
left out.

**Provenance.**  The To-do's ``origin`` names the channel, the rule, the event, the exchange
and the delivery it comes from (lists of them for a digest).  Fan-out never applies a rule
to a record that rule made, or made from records it made (see
:func:`grc_core.notify.fanout.origin_rules`).

**Exactly once.**  A database channel: it writes through the pipeline's session.  Its UUID is
derived from the delivery id (:func:`task_uuid`, UUID 5), and creating an exchange with a
known UUID returns the existing one, so even a repeated send creates nothing twice.

**No chain reaction.**  Creating the To-do records an ``exchange.created`` event like any
creation; with ``notify_new_tasks = false`` (the default) that event is marked as already
fanned out, so that a rule "on exchange created, create a task" cannot feed on its own
tasks forever.  Set it to ``true`` to let subscribers hear of these tasks (and make sure no
rule loops).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grc_core.errors import GrcError
from grc_core.models import Delivery, Event, EventKind, Exchange, Opportunity, User
from grc_core.models.exchange import SUBJECT_MAX
from grc_core.notify.channels import OutgoingMessage, SendResult, quotes_private
from grc_core.services.exchanges import DETAILS_MAX, create_exchange
from grc_core.timeutil import utcnow

#: The namespace of task UUIDs (a fixed, random UUID: never change it, or re-sends of old
#: deliveries would create second tasks).
TASK_NAMESPACE = uuid.UUID("5d0c51c4-64f4-4a7e-a0b5-0f0e6a3d7c21")


def task_uuid(delivery_id: int) -> uuid.UUID:
    """The UUID of the To-do created for delivery ``delivery_id``."""
    return uuid.uuid5(TASK_NAMESPACE, f"grc-delivery-{int(delivery_id)}")


class TaskChannel:
    """Creates one To-do exchange per message, owned by the recipient.

    :param action: the action code of the created exchanges.
    :param status: their status code.
    :param due_days: their end ("due") date, in days after creation.
    :param notify_new_tasks: let the creation of a task be notified like any other.
    """

    name = "task"
    #: Writes only through the session it is given: delivered exactly once.
    transactional = True

    def __init__(
        self,
        *,
        action: str = "todo",
        status: str = "planned",
        due_days: float = 1.0,
        notify_new_tasks: bool = False,
    ) -> None:
        self.action = action
        self.status = status
        self.due = timedelta(days=due_days)
        self.notify_new_tasks = notify_new_tasks

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Create the To-dos; a message that cannot become one fails alone."""
        return [self._one(session, message) for message in messages]

    def _links(self, session: Session, about: Any) -> tuple[int | None, list[int], bool]:
        """(company id, opportunity ids, private) for the task about ``about``."""
        if about.get("digest") is not None and "items" in about:
            items = [dict(item) for item in about.get("items") or []]
            company_id = about.get("company_id")
            opportunity_ids: list[int] = []
            private = quotes_private(about)
            for item in items:
                item_company, item_opportunities, item_private = self._one_link(session, item)
                private = private or item_private
                if company_id is not None and item_company == company_id:
                    opportunity_ids += item_opportunities
            return company_id, sorted(set(opportunity_ids)), private
        return self._one_link(session, about)

    @staticmethod
    def _one_link(session: Session, about: Any) -> tuple[int | None, list[int], bool]:
        exchange_id = about.get("exchange_id")
        exchange = session.get(Exchange, exchange_id) if exchange_id is not None else None
        uuid = about.get("exchange_uuid")
        if exchange is not None and uuid is not None and str(exchange.uuid) != str(uuid):
            exchange = None  # another record has that id now: the quoted one is gone
        if exchange is not None:
            company_id = exchange.company_id
            wanted = [o.id for o in exchange.opportunities]
            private = exchange.private or quotes_private(about)
        else:
            company_id = about.get("company_id")
            wanted = [int(i) for i in about.get("opportunity_ids") or []]
            # Gone (privacy unknown), or about no exchange (a company, an opportunity).
            private = exchange_id is not None or quotes_private(about)
        # Opportunities deleted or moved to another company since are left out.
        kept = (
            list(
                session.scalars(
                    select(Opportunity.id)
                    .where(Opportunity.id.in_(wanted), Opportunity.company_id == company_id)
                    .order_by(Opportunity.id)
                )
            )
            if wanted and company_id is not None
            else []
        )
        return company_id, kept, private

    @staticmethod
    def _origin(session: Session, message: OutgoingMessage) -> dict[str, Any]:
        """Where the task comes from (``Exchange.origin``)."""
        about = message.about
        members = [int(i) for i in about.get("deliveries") or [message.delivery_id]]
        # The query leaves NULL out already; the test narrows the column's type for mypy.
        rules = {
            int(r)
            for r in session.scalars(
                select(Delivery.rule_id).where(
                    Delivery.id.in_(members), Delivery.rule_id.is_not(None)
                )
            )
            if r is not None
        }
        if about.get("rule_id"):
            rules.add(int(about["rule_id"]))
        origin: dict[str, Any] = {
            "channel": "task",
            "rule_id": next(iter(rules)) if len(rules) == 1 else None,
            "event_id": about.get("event_id"),
            "exchange_id": about.get("exchange_id"),
            "delivery_id": message.delivery_id,
        }
        if about.get("digest") is not None:
            items = about.get("items") or []
            origin["rule_ids"] = sorted(rules)
            origin["exchange_ids"] = sorted(
                {int(i["exchange_id"]) for i in items if i.get("exchange_id") is not None}
            )
            origin["event_ids"] = sorted(
                {int(i["event_id"]) for i in items if i.get("event_id") is not None}
            )
        return origin

    def _one(self, session: Session, message: OutgoingMessage) -> SendResult:
        ident = message.delivery_id
        key = task_uuid(ident)
        user = session.get(User, message.recipient.user_id)
        if user is None:
            return SendResult.failed(ident, f"no user {message.recipient.user_id}", retryable=False)
        company_id, opportunity_ids, private = self._links(session, message.about)
        subject = " ".join(message.subject.split())[:SUBJECT_MAX] or "Notification"
        start = utcnow()
        try:
            # A savepoint per task: one that fails leaves the others and the pipeline's
            # transaction intact.
            with session.begin_nested():
                task = create_exchange(
                    session,
                    user,
                    subject=subject,
                    details=message.text[:DETAILS_MAX],
                    start=start,
                    end=start + self.due,
                    action=self.action,
                    status=self.status,
                    company_id=company_id,
                    opportunity_ids=opportunity_ids,
                    assignees=[user],
                    private=private,
                    uuid=key,
                    system=True,
                    origin=self._origin(session, message),
                )
                if not self.notify_new_tasks:
                    self._silence(session, task)
        except GrcError as exc:  # deactivated user, deleted company, retired picklist value…
            return SendResult.failed(ident, f"cannot create the task: {exc}", retryable=False)
        return SendResult.sent(ident, str(key))

    @staticmethod
    def _silence(session: Session, task: Exchange) -> None:
        session.execute(
            update(Event)
            .where(
                Event.entity_type == "exchange",
                Event.entity_id == task.id,
                Event.kind == EventKind.EXCHANGE_CREATED.value,
            )
            .values(fanned_out=True)
        )

    def close(self) -> None:
        """Nothing to release."""
