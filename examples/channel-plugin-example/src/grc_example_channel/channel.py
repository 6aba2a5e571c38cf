"""A notification channel that posts each message as JSON to a URL (a webhook).

Everything an external channel must get right is here:

- one :class:`~grc_core.notify.channels.SendResult` per message, in order;
- a message that cannot be delivered is a failed result, not an exception: a recipient
  the other end cannot know (no e-mail address) fails alone and for good;
- every send of delivery *N* carries the same identifier, ``grc-delivery-N``, as an
  ``Idempotency-Key`` header and as the result's ``message_id``, so that the receiver
  recognises a re-send (the pipeline sends again after a crash in the send → acknowledge
  window);
- an HTTP 4xx answer is final (``retryable=False``) except 408 and 429; a 5xx answer or an
  unreachable server is retried later, and when the server is unreachable the rest of the
  batch fails at once rather than waiting for one timeout per message;
- errors say what failed, never the token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from grc_core.notify.channels import OutgoingMessage, SendResult


class WebhookChannel:
    """Posts each message as JSON to ``url``; external, so idempotency keys name re-sends.

    :param url: where to post.
    :param token: sent as ``Authorization: Bearer …`` when given.
    :param timeout: seconds for each post.
    """

    name = "example-webhook"

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, session: Any, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Deliver the batch; ``session`` is not used (an external channel)."""
        results: list[SendResult] = []
        for index, message in enumerate(messages):
            key = f"grc-delivery-{message.delivery_id}"
            if not message.recipient.email:  # the other end knows people by e-mail
                error = f"{message.recipient.login} has no e-mail address"
                results.append(SendResult.failed(message.delivery_id, error, retryable=False))
                continue
            body = {
                "user": message.recipient.email,
                "title": message.subject,
                "text": message.text,
                "html": message.html,
                "about": dict(message.about),
            }
            request = urllib.request.Request(
                self.url, data=json.dumps(body).encode(), method="POST"
            )
            request.add_header("Content-Type", "application/json")
            request.add_header("Idempotency-Key", key)
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout):
                    results.append(SendResult.sent(message.delivery_id, key))
            except urllib.error.HTTPError as exc:  # the server answered
                retry = exc.code >= 500 or exc.code in (408, 429)
                error = f"the webhook answered HTTP {exc.code}"
                results.append(
                    SendResult.failed(message.delivery_id, error, retryable=retry, message_id=key)
                )
            except OSError as exc:  # unreachable: the rest of the batch waits too
                error = f"the webhook is unreachable: {exc}"
                results += [
                    SendResult.failed(m.delivery_id, error, retryable=True)
                    for m in messages[index:]
                ]
                break
        return results

    def close(self) -> None:
        """Nothing to release: each post opens and closes its own connection."""
