"""The ``email`` channel: each message as an e-mail, over SMTP or into an mbox file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grc_adapters.email.transport import (
    EmailSettings,
    Envelope,
    build_email,
    make_transport,
    usable_address,
)
from grc_core.notify.channels import OutgoingMessage, SendResult


class EmailChannel:
    """Sends each message as an e-mail with a text part (and an HTML part when it has one).

    External: it ignores the session; a message re-sent after a crash carries the same
    ``Message-ID`` (``<grc-delivery-N@domain>``).  A batch is spread over up to
    ``connections`` SMTP connections, each reused for its share and kept for the next
    batch until :meth:`close`.

    :param settings: see :class:`~grc_adapters.email.transport.EmailSettings`.
    """

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.transport = make_transport(settings)
        self.closed = False

    def send(self, session: Any, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send ``messages``; a recipient without a usable address fails alone."""
        results: list[SendResult | None] = [None] * len(messages)
        envelopes: list[tuple[int, Envelope]] = []
        for index, message in enumerate(messages):
            address = usable_address(message.recipient.email)
            if address is None:
                results[index] = SendResult.failed(
                    message.delivery_id,
                    f"user {message.recipient.login!r} has no usable e-mail address",
                    retryable=False,
                )
                continue
            envelopes.append((index, build_email(message, self.settings, address)))
        sent = self.transport.send([envelope for _, envelope in envelopes])
        for (index, _), result in zip(envelopes, sent, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def close(self) -> None:
        """End the SMTP connections kept between batches."""
        self.transport.close()
        self.closed = True
