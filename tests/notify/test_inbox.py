"""The inbox channel (through the test's session, on both databases) and the inbox service."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grc_adapters.inbox import InboxChannel
from grc_adapters.inbox.plugin import make_inbox_channel
from grc_core.errors import ConfigError, NotFound, ValidationError
from grc_core.models import InboxItem
from grc_core.notify import inbox
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.services import users
from grc_core.testing.channel_contract import NotificationChannelContract

from .conftest import add_delivery


class TestInboxChannel(NotificationChannelContract):
    transactional = True

    @pytest.fixture
    def channel(self) -> InboxChannel:
        return make_inbox_channel({})

    @pytest.fixture
    def send_session(self, session: Session) -> Session:
        return session

    @pytest.fixture
    def recipient(self, world) -> Recipient:
        return Recipient.from_user(world.alice)

    @pytest.fixture
    def new_delivery_id(self, session: Session, world) -> Callable[[], int]:
        return lambda: add_delivery(session, world.alice.id, "inbox")

    @pytest.fixture
    def delivered(self, session: Session) -> Callable[[int], int]:
        def count(delivery_id: int) -> int:
            return (
                session.scalar(select(func.count()).where(InboxItem.delivery_id == delivery_id))
                or 0
            )

        return count


def send_alert(session: Session, world, user=None, **fields) -> OutgoingMessage:  # type: ignore[no-untyped-def]
    user = user or world.alice
    values = {"subject": "Nouvel échange — ACME", "text": "Relance devis", "about": {}}
    values.update(fields)
    message = OutgoingMessage(
        delivery_id=add_delivery(session, user.id, "inbox"),
        recipient=Recipient.from_user(user),
        **values,
    )
    [result] = InboxChannel().send(session, [message])
    assert result.ok, result
    return message


def test_an_alert_becomes_an_inbox_item(session: Session, world) -> None:
    message = send_alert(
        session,
        world,
        subject="Nouvel\néchange — ACME",
        text="Ligne 1\nLigne 2",
        about={"exchange_id": 7, "company_id": world.acme.id},
    )
    item = session.scalars(
        select(InboxItem).where(InboxItem.delivery_id == message.delivery_id)
    ).one()
    assert (item.user_id, item.title, item.body) == (
        world.alice.id,
        "Nouvel échange — ACME",
        "Ligne 1\nLigne 2",
    )
    assert item.about == {"exchange_id": 7, "company_id": world.acme.id}
    assert item.read_at is None


def test_a_deactivated_user_gets_no_alert(session: Session, world) -> None:
    users.update_user(session, world.admin, world.carol.id, active=False)
    message = OutgoingMessage(
        delivery_id=add_delivery(session, world.carol.id, "inbox"),
        recipient=Recipient.from_user(world.carol),
        subject="x",
        text="y",
    )
    [result] = InboxChannel().send(session, [message])
    assert (result.ok, result.retryable, result.error) == (
        False,
        False,
        "user 'carol' is deactivated",
    )


def test_a_long_subject_is_cut_to_the_title_size(session: Session, world) -> None:
    message = send_alert(session, world, subject="é" * 400)
    item = session.scalars(
        select(InboxItem).where(InboxItem.delivery_id == message.delivery_id)
    ).one()
    assert item.title == "é" * 300


# --- the service --------------------------------------------------------------------------------


def test_list_count_and_mark_read(session: Session, world) -> None:
    for i in range(5):
        send_alert(session, world, subject=f"alerte {i}")
    send_alert(session, world, user=world.bob, subject="pour Bob")
    assert inbox.unread_count(session, world.alice) == 5
    assert inbox.unread_count(session, world.bob) == 1
    listed = inbox.list_inbox(session, world.alice)
    assert [e.title for e in listed] == [f"alerte {i}" for i in reversed(range(5))]
    assert all(e.unread for e in listed)

    assert inbox.mark_read(session, world.alice, [listed[0].id, listed[1].id]) == 2
    assert inbox.mark_read(session, world.alice, [listed[0].id]) == 0  # already read
    assert inbox.unread_count(session, world.alice) == 3
    unread = inbox.list_inbox(session, world.alice, unread_only=True)
    assert [e.title for e in unread] == ["alerte 2", "alerte 1", "alerte 0"]
    assert inbox.list_inbox(session, world.alice)[0].read_at is not None

    assert inbox.mark_read(session, world.alice, "all") == 3
    assert inbox.unread_count(session, world.alice) == 0
    assert inbox.unread_count(session, world.bob) == 1  # Bob's item untouched


def test_pages(session: Session, world) -> None:
    for i in range(7):
        send_alert(session, world, subject=f"alerte {i}")
    first = inbox.list_inbox(session, world.alice, limit=3)
    second = inbox.list_inbox(session, world.alice, limit=3, before=first[-1].id)
    third = inbox.list_inbox(session, world.alice, limit=3, before=second[-1].id)
    titles = [e.title for e in first + second + third]
    assert titles == [f"alerte {i}" for i in reversed(range(7))]
    with pytest.raises(ValidationError, match="limit must be between 1 and 200, got 0"):
        inbox.list_inbox(session, world.alice, limit=0)


def test_nobody_reads_or_marks_another_users_items(session: Session, world) -> None:
    send_alert(session, world, user=world.bob, subject="pour Bob")
    [bobs] = inbox.list_inbox(session, world.bob)
    assert inbox.list_inbox(session, world.alice) == []
    with pytest.raises(NotFound, match=rf"no inbox item {bobs.id} for 'alice'"):
        inbox.mark_read(session, world.alice, [bobs.id])
    assert inbox.unread_count(session, world.bob) == 1
    assert inbox.mark_read(session, world.alice, []) == 0


def test_the_inbox_channel_takes_no_settings() -> None:
    with pytest.raises(ConfigError, match="the 'inbox' channel has no setting 'colour'"):
        make_inbox_channel({"colour": "blue"})
