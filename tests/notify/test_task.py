"""The task channel, through the test's session on both databases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grc_adapters.task import TaskChannel, task_uuid
from grc_adapters.task.plugin import make_task_channel
from grc_core.errors import ConfigError
from grc_core.models import Event, EventKind, Exchange
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.services import exchanges, users
from grc_core.testing.channel_contract import NotificationChannelContract
from grc_core.visibility import can_see

from .conftest import add_delivery


def source_exchange(session: Session, world: Any, *, private: bool = False) -> Exchange:
    """The exchange notifications are about: Alice's, at ACME, on both opportunities."""
    return exchanges.create_exchange(
        session,
        world.alice,
        subject="Relance devis",
        start=world.at(),
        action="call",
        company_id=world.acme.id,
        opportunity_ids=[world.deal1.id, world.deal2.id],
        assignees=[world.alice, world.bob],
        private=private,
    )


class TestTaskChannel(NotificationChannelContract):
    transactional = True

    @pytest.fixture
    def channel(self) -> TaskChannel:
        return make_task_channel({})

    @pytest.fixture
    def send_session(self, session: Session) -> Session:
        return session

    @pytest.fixture
    def recipient(self, world) -> Recipient:
        return Recipient.from_user(world.bob)

    @pytest.fixture
    def about(self, session: Session, world) -> dict[str, Any]:
        exchange = source_exchange(session, world)
        return {"exchange_id": exchange.id, "company_id": world.acme.id}

    @pytest.fixture
    def new_delivery_id(self, session: Session, world) -> Callable[[], int]:
        return lambda: add_delivery(session, world.bob.id, "task")

    @pytest.fixture
    def delivered(self, session: Session) -> Callable[[int], int]:
        def count(delivery_id: int) -> int:
            return (
                session.scalar(select(func.count()).where(Exchange.uuid == task_uuid(delivery_id)))
                or 0
            )

        return count


def send_task(
    session: Session, world, about: dict[str, Any], channel: TaskChannel | None = None, **fields
):  # type: ignore[no-untyped-def]
    values = {"subject": "[GRC] Relance devis — ACME", "text": "Rappeler le client."}
    values.update(fields)
    message = OutgoingMessage(
        delivery_id=add_delivery(session, world.bob.id, "task"),
        recipient=Recipient.from_user(world.bob),
        about=about,
        **values,
    )
    [result] = (channel or TaskChannel()).send(session, [message])
    return message, result


def test_a_task_is_a_todo_owned_by_the_recipient_linked_like_its_exchange(
    session: Session, world
) -> None:
    exchange = source_exchange(session, world)
    message, result = send_task(session, world, {"exchange_id": exchange.id, "private": False})
    assert result.ok and result.message_id == str(task_uuid(message.delivery_id))
    task = exchanges.get_exchange(session, world.bob, task_uuid(message.delivery_id))
    assert (task.action.code, task.status.code) == ("todo", "planned")
    assert task.author_id == world.bob.id
    assert [u.id for u in task.assignees] == [world.bob.id]
    assert task.company_id == world.acme.id
    assert [o.id for o in task.opportunities] == [world.deal1.id, world.deal2.id]
    assert (task.subject, task.details) == ("[GRC] Relance devis — ACME", "Rappeler le client.")
    assert (task.end_at - task.start_at).total_seconds() == 24 * 3600
    assert task.private is False  # about a shared exchange: colleagues may see it
    assert can_see(world.carol, task)


def test_a_task_about_a_private_exchange_is_private(session: Session, world) -> None:
    exchange = source_exchange(session, world, private=True)
    message, result = send_task(session, world, {"exchange_id": exchange.id})
    assert result.ok
    task = exchanges.get_exchange(session, world.bob, task_uuid(message.delivery_id))
    assert task.private is True
    assert not can_see(world.carol, task)


def test_a_task_about_a_deleted_exchange_uses_about_and_stays_private(
    session: Session, world
) -> None:
    about = {
        "exchange_id": 987_654,  # gone
        "company_id": world.acme.id,
        "opportunity_ids": [world.deal1.id, world.other_deal.id],  # the second is Globex's
    }
    message, result = send_task(session, world, about)
    assert result.ok, result
    task = exchanges.get_exchange(session, world.bob, task_uuid(message.delivery_id))
    assert task.company_id == world.acme.id
    assert [o.id for o in task.opportunities] == [world.deal1.id]
    assert task.private is True


def test_a_task_about_a_company_only(session: Session, world) -> None:
    message, result = send_task(session, world, {"company_id": world.other.id})
    assert result.ok
    task = exchanges.get_exchange(session, world.bob, task_uuid(message.delivery_id))
    assert (task.company_id, task.opportunities, task.private) == (world.other.id, [], False)


def test_sending_twice_creates_one_task_and_one_event(session: Session, world) -> None:
    exchange = source_exchange(session, world)
    message, first = send_task(session, world, {"exchange_id": exchange.id})
    [again] = TaskChannel().send(session, [message])
    assert first.ok and again.ok and again.message_id == first.message_id
    key = task_uuid(message.delivery_id)
    assert session.scalar(select(func.count()).where(Exchange.uuid == key)) == 1
    task = session.scalars(select(Exchange).where(Exchange.uuid == key)).one()
    created = session.scalar(
        select(func.count()).where(
            Event.entity_type == "exchange",
            Event.entity_id == task.id,
            Event.kind == EventKind.EXCHANGE_CREATED.value,
        )
    )
    assert created == 1


def test_the_creation_of_a_task_is_not_fanned_out_unless_asked(session: Session, world) -> None:
    def creation_event(message: OutgoingMessage) -> Event:
        task = session.scalars(
            select(Exchange).where(Exchange.uuid == task_uuid(message.delivery_id))
        ).one()
        return session.scalars(
            select(Event).where(
                Event.entity_id == task.id, Event.kind == EventKind.EXCHANGE_CREATED.value
            )
        ).one()

    quiet, _ = send_task(session, world, {"company_id": world.acme.id})
    loud, _ = send_task(
        session, world, {"company_id": world.acme.id}, TaskChannel(notify_new_tasks=True)
    )
    session.expire_all()
    assert creation_event(quiet).fanned_out is True
    assert creation_event(loud).fanned_out is False


def test_tasks_that_cannot_be_created_fail_alone(session: Session, world) -> None:
    users.update_user(session, world.admin, world.carol.id, active=False)
    ok = OutgoingMessage(
        add_delivery(session, world.bob.id, "task"),
        Recipient.from_user(world.bob),
        "ok",
        "text",
        about={"company_id": world.acme.id},
    )
    deactivated = OutgoingMessage(
        add_delivery(session, world.bob.id, "task"), Recipient.from_user(world.carol), "x", "y"
    )
    no_company = OutgoingMessage(
        add_delivery(session, world.bob.id, "task"),
        Recipient.from_user(world.bob),
        "x",
        "y",
        about={"company_id": 999_999},
    )
    results = TaskChannel().send(session, [ok, deactivated, no_company])
    assert [(r.ok, r.retryable) for r in results] == [(True, False), (False, False), (False, False)]
    assert (results[1].error or "").startswith("cannot create the task: ")
    assert "carol" in (results[1].error or "")
    assert (results[2].error or "").startswith("cannot create the task: ")
    # The failures rolled back their savepoints only: the first task is there.
    assert (
        session.scalar(select(func.count()).where(Exchange.uuid == task_uuid(ok.delivery_id))) == 1
    )


def test_a_configured_status_and_due_date(session: Session, world) -> None:
    channel = make_task_channel({"status": "done", "due_days": "3"})
    message, result = send_task(session, world, {"company_id": world.acme.id}, channel)
    assert result.ok
    task = exchanges.get_exchange(session, world.bob, task_uuid(message.delivery_id))
    assert task.status.code == "done"
    assert (task.end_at - task.start_at).days == 3


def test_task_uuid_is_stable() -> None:
    assert task_uuid(1) == task_uuid(1) != task_uuid(2)
    # Pinned: changing the namespace would make re-sends of old deliveries create new tasks.
    assert str(task_uuid(42)) == "dbb560c8-71cc-54a4-ab2b-19858abf877c"
    assert task_uuid(42).version == 5


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"colour": "blue"}, "the 'task' channel has no setting 'colour'"),
        ({"due_days": "-1"}, "the 'task' channel's due_days must be a number from 0 to 3650"),
        ({"notify_new_tasks": "perhaps"}, "the 'task' channel's notify_new_tasks must be true"),
    ],
)
def test_configuration_errors(config: dict, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_task_channel(config)
    assert str(caught.value).startswith(error)
