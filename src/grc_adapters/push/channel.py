"""The ``push`` channel: each message goes, encrypted (RFC 8291, ``aes128gcm``) and signed
(RFC 8292 VAPID), to every push subscription its recipient enabled on their devices.

An external channel: the message leaves for the browser vendors' push services, outside
the pipeline's transaction.  It only reads subscriptions through the pipeline's session,
and deletes those the push service reports gone (404/410), in the same transaction.

What the device receives is JSON ``{"title", "body", "url", "tag"}`` built from the rendered
message alone: the pipeline has already applied the privacy rule to it (a recipient who may
not see an exchange gets no message about it, or one that does not quote it), so the push
message carries nothing its recipient may not see.  ``tag`` is the same for a message sent
again (at-least-once delivery): the device replaces the notification rather than showing
it twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grc_adapters.push import vapid
from grc_core.notify.channels import ChannelSettings, OutgoingMessage, SendResult
from grc_core.timeutil import utcnow

if TYPE_CHECKING:
    import requests
    from sqlalchemy.orm import Session

    from grc_core.models import PushSubscription

log = logging.getLogger("grc_adapters.push")

#: Bytes of JSON a push message may carry (4096 minus the aes128gcm header and padding).
MAX_PAYLOAD = 3800
ACCEPTED = ("vapid_private_key", "subject", "ttl", "timeout")


@dataclass(frozen=True)
class PushSettings:
    """The push channel's configuration.

    :param key_file: the VAPID private key (PEM).
    :param subject: who push services may contact about these messages (``mailto:`` or
        ``https:``), put in the VAPID signature.
    :param ttl: seconds a push service keeps a message for a device that is offline.
    :param timeout: seconds to wait for a push service.
    """

    key_file: Path
    subject: str = "mailto:grc@localhost"
    ttl: int = 86_400
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PushSettings:
        """From ``[grc.channels.push]``."""
        read = ChannelSettings("push", config, ACCEPTED)
        subject = read.text("subject", "mailto:grc@localhost") or "mailto:grc@localhost"
        if not subject.startswith(("mailto:", "https://")):
            raise read._error("subject", "a mailto: or https: URI")
        return cls(
            key_file=vapid.key_path(config),
            subject=subject,
            ttl=read.integer("ttl", 86_400, minimum=0, maximum=28 * 86_400),
            timeout=read.number("timeout", 10.0, minimum=0.5, maximum=300),
        )


def payload(message: OutgoingMessage) -> bytes:
    """The JSON the device's service worker receives (see the module documentation)."""
    about = message.about
    exchange = about.get("exchange_id")
    url = f"/#/exchanges/{int(exchange)}" if exchange and not about.get("digest") else "/#/inbox"
    title = " ".join(message.subject.split())[:200] or "GRC"
    body = message.text.strip()
    data = {"title": title, "body": body, "url": url, "tag": f"grc-delivery-{message.delivery_id}"}
    encoded = json.dumps(data, ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_PAYLOAD:
        # The longest start of the body that fits, found by halving (a few JSON dumps).
        short, long = 0, len(body)
        while short < long:
            middle = (short + long + 1) // 2
            data["body"] = body[:middle].rstrip() + "…"
            if len(json.dumps(data, ensure_ascii=False).encode("utf-8")) <= MAX_PAYLOAD:
                short = middle
            else:
                long = middle - 1
        data["body"] = body[:short].rstrip() + "…"
        encoded = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return encoded


class PushChannel:
    """Sends Web Push messages with pywebpush."""

    name = "push"

    def __init__(self, settings: PushSettings) -> None:
        self.settings = settings
        self._vapid: Any = None
        self._http: requests.Session | None = None

    def _signer(self) -> Any:
        if self._vapid is None:
            from py_vapid import Vapid02

            key = vapid.load_private_key(self.settings.key_file)
            self._vapid = Vapid02.from_pem(vapid.private_pem(key))
        return self._vapid

    def _session(self) -> requests.Session:
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send each message to every enabled subscription of its recipient."""
        from grc_core.services.devices import push_subscriptions_of

        if not messages:
            return []
        signer = self._signer()
        results = []
        for message in messages:
            targets = push_subscriptions_of(session, message.recipient.user_id)
            if not targets:
                results.append(
                    SendResult.failed(
                        message.delivery_id,
                        f"{message.recipient.login!r} has alerts enabled on no device",
                        retryable=False,
                    )
                )
                continue
            data = payload(message)
            outcomes = [self._push(session, target, data, signer) for target in targets]
            tag = f"grc-delivery-{message.delivery_id}"
            if any(ok for ok, _, _ in outcomes):
                results.append(SendResult.sent(message.delivery_id, tag))
            else:
                errors = "; ".join(error or "" for _, error, _ in outcomes)
                retryable = any(again for _, _, again in outcomes)
                results.append(
                    SendResult.failed(message.delivery_id, errors[:500], retryable=retryable)
                )
        session.flush()
        return results

    def _push(
        self, session: Session, target: PushSubscription, data: bytes, signer: Any
    ) -> tuple[bool, str | None, bool]:
        """``(sent, error, retryable)`` for one subscription."""
        from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]

        info = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            webpush(
                info,
                data=data,
                vapid_private_key=signer,
                vapid_claims={"sub": self.settings.subject},
                content_encoding="aes128gcm",
                ttl=self.settings.ttl,
                timeout=self.settings.timeout,
                requests_session=self._session(),
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (404, 410):
                # The browser unsubscribed or the subscription expired: forget it.
                log.info("push subscription %s is gone (%s): removed", target.id, status)
                session.delete(target)
                return False, f"subscription {target.id} is gone ({status})", False
            retryable = status is None or status in (408, 429) or status >= 500
            return False, f"push service answered {status} for subscription {target.id}", retryable
        except Exception as exc:  # connection refused, timeout, TLS: may work later
            return False, f"push service unreachable for subscription {target.id}: {exc}", True
        target.last_sent_at = utcnow()
        return True, None, False

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._http is not None:
            self._http.close()
            self._http = None
