"""The notification-channel contract as tests: every channel, ours and third parties', runs them.

Subclass :class:`NotificationChannelContract` in a test module and provide two fixtures: a
``channel`` (a fresh channel, closed afterwards) and ``delivered`` (a function telling how
many times delivery ``N`` reached its destination — the messages a local test server
received, the rows written…)::

    import pytest
    from grc_core.testing.channel_contract import NotificationChannelContract
    from my_plugin import TeamsChannel

    class TestTeamsChannel(NotificationChannelContract):
        @pytest.fixture
        def channel(self, fake_teams):
            channel = TeamsChannel(fake_teams.url)
            yield channel
            channel.close()

        @pytest.fixture
        def delivered(self, fake_teams):
            return lambda delivery_id: fake_teams.count(delivery_id)

Database channels set ``transactional = True`` and override ``send_session`` (the session
``send`` writes through) and ``new_delivery_id`` (real ``Delivery`` rows, for the foreign
keys).  Override ``recipient``, ``unusable_recipient`` and ``about`` when the defaults do
not suit the channel.  Every test may fail: each checks a rule of
:class:`~grc_core.notify.channels.NotificationChannel` that a plausible channel could break.

This module imports pytest; nothing in :mod:`grc_core` imports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from grc_core.notify.channels import (
    NotificationChannel,
    OutgoingMessage,
    Recipient,
    SendResult,
)


class NotificationChannelContract:
    """The tests every notification channel must pass; subclass it and provide ``channel``
    and ``delivered``.

    Not collected by itself (its name does not start with ``Test``).
    """

    #: ``True`` for a channel that writes only through the session it is given (delivered
    #: exactly once); ``False`` for an external one (at least once, re-sends recognisable).
    transactional: bool = False

    # --- fixtures a subclass provides or overrides ----------------------------------------

    @pytest.fixture
    def channel(self) -> NotificationChannel:
        """A fresh channel.  Subclasses must override this fixture."""
        raise NotImplementedError(
            f"{type(self).__name__} must define a `channel` fixture returning a fresh "
            "notification channel"
        )

    @pytest.fixture
    def delivered(self) -> Callable[[int], int]:
        """How many times the message of a delivery id reached its destination.
        Subclasses must override this fixture."""
        raise NotImplementedError(
            f"{type(self).__name__} must define a `delivered` fixture: a function of a "
            "delivery id returning how many messages for it arrived"
        )

    @pytest.fixture
    def send_session(self) -> Any:
        """The session handed to ``send`` (``None``: external channels ignore it)."""
        return None

    @pytest.fixture
    def new_delivery_id(self) -> Callable[[], int]:
        """Makes the delivery ids of the test messages (distinct numbers by default)."""
        return itertools.count(100_001).__next__

    @pytest.fixture
    def recipient(self) -> Recipient:
        """A recipient the channel can deliver to."""
        return Recipient(
            user_id=1,
            login="alice",
            name="Alice Martin",
            email="alice@example.com",
            phone="+33 6 12 34 56 78",
            timezone="Europe/Paris",
        )

    @pytest.fixture
    def unusable_recipient(self) -> Recipient:
        """A recipient the channel cannot deliver to (no such user, no address, no phone)."""
        return Recipient(
            user_id=2_000_000_000,
            login="ghost",
            name="Nobody",
            email=None,
            phone=None,
        )

    @pytest.fixture
    def about(self) -> Mapping[str, Any]:
        """The ``about`` of the test messages."""
        return {}

    # --- helpers ------------------------------------------------------------------------

    @pytest.fixture
    def make_message(
        self,
        new_delivery_id: Callable[[], int],
        recipient: Recipient,
        about: Mapping[str, Any],
    ) -> Callable[..., OutgoingMessage]:
        """Builds a message for a new delivery (keyword arguments override its fields)."""

        def make(**fields: Any) -> OutgoingMessage:
            values: dict[str, Any] = {
                "delivery_id": new_delivery_id(),
                "recipient": recipient,
                "subject": "[GRC] Nouvel échange — ACME",
                "text": "Bonjour Alice,\n\nUn échange a été enregistré chez ACME.",
                "html": None,
                "about": dict(about),
            }
            values.update(fields)
            return OutgoingMessage(**values)

        return make

    @staticmethod
    def send(
        channel: NotificationChannel, session: Any, messages: Sequence[OutgoingMessage]
    ) -> list[SendResult]:
        """``channel.send``, checking the shape of what it returns."""
        results = channel.send(session, list(messages))
        assert isinstance(results, list), f"send() returned {type(results).__name__}, not a list"
        assert len(results) == len(messages), (
            f"send() returned {len(results)} results for {len(messages)} messages"
        )
        for message, result in zip(messages, results, strict=True):
            assert isinstance(result, SendResult), f"send() returned {result!r}"
            assert result.delivery_id == message.delivery_id, (
                "results must come back in message order: "
                f"{[r.delivery_id for r in results]} != {[m.delivery_id for m in messages]}"
            )
            if result.ok:
                assert result.error is None, f"a successful result has an error: {result}"
            else:
                assert isinstance(result.error, str) and result.error.strip(), (
                    f"a failed result must say why: {result}"
                )
        return results

    # --- the contract -------------------------------------------------------------------

    def test_is_a_notification_channel(self, channel: NotificationChannel) -> None:
        assert isinstance(channel, NotificationChannel)
        assert isinstance(channel.name, str) and channel.name

    def test_an_empty_batch_gives_no_result(
        self, channel: NotificationChannel, send_session: Any
    ) -> None:
        assert self.send(channel, send_session, []) == []

    def test_one_result_per_message_in_order(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        messages = [make_message(subject=f"[GRC] message {i}") for i in range(3)]
        results = self.send(channel, send_session, messages)
        assert all(r.ok for r in results), results
        for message in messages:
            assert delivered(message.delivery_id) == 1, (
                f"delivery {message.delivery_id} arrived {delivered(message.delivery_id)} times"
            )

    def test_an_unusable_recipient_fails_alone_and_for_good(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        unusable_recipient: Recipient,
        delivered: Callable[[int], int],
    ) -> None:
        first = make_message()
        bad = make_message(recipient=unusable_recipient)
        last = make_message()
        ok1, failed, ok2 = self.send(channel, send_session, [first, bad, last])
        assert ok1.ok and ok2.ok, (ok1, ok2)
        assert not failed.ok
        assert failed.retryable is False, (
            f"an unusable recipient will never work: not retryable ({failed})"
        )
        assert delivered(bad.delivery_id) == 0
        assert delivered(first.delivery_id) == 1
        assert delivered(last.delivery_id) == 1

    def test_text_only_and_html_messages(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        plain = make_message(html=None)
        rich = make_message(html="<p>Un <b>échange</b> &amp; une relance</p>")
        results = self.send(channel, send_session, [plain, rich])
        assert [r.ok for r in results] == [True, True], results
        assert delivered(plain.delivery_id) == 1
        assert delivered(rich.delivery_id) == 1

    def test_unicode_and_awkward_text(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        message = make_message(
            subject="Relance\r\nBcc: victim@example.com — Société Générale 🚀",
            text="Ligne 1\nLigne 2 : « guillemets » & <balises>\n\n" + "é" * 500,
        )
        [result] = self.send(channel, send_session, [message])
        assert result.ok, result
        assert delivered(message.delivery_id) == 1

    def test_a_resent_message_is_recognisable(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        """The send → acknowledge window: the same delivery sent twice."""
        message = make_message()
        [first] = self.send(channel, send_session, [message])
        [again] = self.send(channel, send_session, [message])
        assert first.ok and again.ok, (first, again)
        if self.transactional:
            assert delivered(message.delivery_id) == 1, "a database channel delivers once"
        else:
            assert first.message_id, "an external channel must identify what it sent"
            assert again.message_id == first.message_id, (
                "a re-send must carry the same identifier (Message-ID, idempotency key)"
            )
        if first.message_id is not None:
            assert again.message_id == first.message_id

    def test_different_deliveries_have_different_identifiers(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
    ) -> None:
        results = self.send(channel, send_session, [make_message(), make_message()])
        ids = [r.message_id for r in results if r.message_id is not None]
        assert len(set(ids)) == len(ids), ids

    def test_a_batch_of_twenty(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        messages = [make_message(text=f"message {i}") for i in range(20)]
        results = self.send(channel, send_session, messages)
        assert all(r.ok for r in results), [r for r in results if not r.ok]
        assert [delivered(m.delivery_id) for m in messages] == [1] * 20

    def test_the_channel_serves_several_batches(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
        delivered: Callable[[int], int],
    ) -> None:
        for _ in range(3):
            message = make_message()
            [result] = self.send(channel, send_session, [message])
            assert result.ok, result
            assert delivered(message.delivery_id) == 1

    def test_close_is_idempotent(self, channel: NotificationChannel) -> None:
        channel.close()
        channel.close()

    def test_close_after_sending(
        self,
        channel: NotificationChannel,
        send_session: Any,
        make_message: Callable[..., OutgoingMessage],
    ) -> None:
        self.send(channel, send_session, [make_message()])
        channel.close()
        channel.close()
