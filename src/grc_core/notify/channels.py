"""The notification channel protocol: what the delivery pipeline hands a channel plugin.

A channel (email, SMS, inbox, task, report, or a third party's) receives a *batch* of
:class:`OutgoingMessage` — already rendered, already checked for privacy — and answers with
one :class:`SendResult` per message, in the same order::

    results = channel.send(session, messages)

**Delivery is at least once.**  The pipeline marks a delivery sent only after ``send``
returned, in its own transaction.  A worker that dies between the two (the *send →
acknowledge window*) leaves the delivery pending, and another worker sends it again once the
lease expires.  So:

- *database channels* (``inbox``, ``task``) write through the ``session`` they are given,
  which is the very transaction that marks the deliveries sent: both commit or neither does,
  and such a channel is delivered exactly once.  They say so with ``transactional = True``;
- *external channels* (``email``, ``sms``, ``report``) cannot join that transaction.  They
  ignore ``session`` (or only read from it) and must make a repeated message recognisable:
  every message about delivery ``N`` carries the same identifier, :func:`message_id_for`
  (``<grc-delivery-N@domain>``) — the ``Message-ID`` of an email, an idempotency header of
  an HTTP gateway — so that a mail client, a gateway or a person sees a duplicate for what
  it is.

**Failures are results, not exceptions.**  A message that cannot be delivered gets
``SendResult(ok=False, error=..., retryable=...)``: ``retryable=False`` for what will never
work (no e-mail address, a recipient the server refuses, a 4xx answer), ``True`` for what may
work later (connection refused, timeout, 5xx).  An exception out of ``send`` means "the whole
batch failed, retry it all" — acceptable for an outage, never for one bad recipient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from grc_core.errors import ConfigError, PluginError
from grc_core.timeutil import DEFAULT_TIMEZONE

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from grc_core.models import User

#: The domain of Message-IDs when a channel has none configured (``.invalid`` is reserved,
#: RFC 2606: it can never be somebody else's real domain).
DEFAULT_MESSAGE_ID_DOMAIN = "grc.invalid"


def message_id_for(delivery_id: int, domain: str = DEFAULT_MESSAGE_ID_DOMAIN) -> str:
    """The stable identifier of every message sent for delivery ``delivery_id``.

    ``<grc-delivery-42@example.com>``: the same for a first send and any re-send, so that a
    duplicate from the send → acknowledge window is recognisable (RFC 5322 ``Message-ID``).
    """
    return f"<grc-delivery-{int(delivery_id)}@{domain}>"


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: plain values, copied from the user and their preferences.

    :param user_id: the user's id (database channels write rows for it).
    :param login: the user's login.
    :param name: the display name ("Alice Martin").
    :param email: the address email and report channels send to, if any.
    :param phone: the number the SMS channel sends to, if any.
    :param timezone: the IANA zone dates are shown in.
    """

    user_id: int
    login: str
    name: str
    email: str | None = None
    phone: str | None = None
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_user(cls, user: User, *, timezone: str = DEFAULT_TIMEZONE) -> Recipient:
        """The recipient for ``user`` (``timezone`` from their preferences)."""
        return cls(
            user_id=user.id,
            login=user.login,
            name=user.display_name,
            email=user.email,
            phone=user.phone,
            timezone=timezone,
        )


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message for one recipient, about one delivery.

    :param delivery_id: the :class:`~grc_core.models.Delivery` it comes from; the key of
        idempotence (Message-ID, task UUID, inbox row).
    :param recipient: who it is for.
    :param subject: one line (an e-mail subject, an inbox title).
    :param text: the plain-text body.
    :param html: an HTML body (already escaped by the sandbox), or ``None``.
    :param about: what it is about — ``exchange_id``, ``exchange_uuid``, ``company_id``,
        ``opportunity_ids``, ``event_id``, ``private`` (the message may quote a private
        exchange)… — plain JSON values, for channels that link or look records up.  A digest
        (``about["digest"]``) quotes several notifications: ``about["items"]`` holds the
        ``about`` of each (see :func:`digest_about`).
    """

    delivery_id: int
    recipient: Recipient
    subject: str
    text: str
    html: str | None = None
    about: Mapping[str, Any] = field(default_factory=dict)


def digest_about(digest: str, members: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """The ``about`` of a digest message, from its ``(delivery id, about)`` members.

    A digest quotes every member, so it carries what each is about (``items``), the ids of
    every exchange it quotes (``exchange_ids``), ``private`` when any member may quote a
    private exchange — or an exchange whose privacy is unknown — and ``company_id`` when
    every member is about the same company.  Channels that create records (a task) or look
    records up (a report) decide on all of them, never on the first only.
    """
    items = [dict(about) for _, about in members]
    companies = {item.get("company_id") for item in items}
    about: dict[str, Any] = {
        "digest": digest,
        "deliveries": [ident for ident, _ in members],
        "items": items,
        "exchange_ids": sorted({int(i["exchange_id"]) for i in items if i.get("exchange_id")}),
        "private": any(quotes_private(item) for item in items),
    }
    if len(companies) == 1:
        about["company_id"] = companies.pop()
    return about


def quotes_private(about: Mapping[str, Any]) -> bool:
    """Whether a message may quote a private exchange (fail closed: a message about an
    exchange that does not say it is shared counts as private)."""
    if about.get("digest") is not None and "items" in about:
        return any(quotes_private(item) for item in about["items"]) or bool(about.get("private"))
    if about.get("exchange_id") is None:
        return bool(about.get("private"))
    return about.get("private") is not False


#: What the built-in channels need of a recipient to reach them: the user attribute and
#: its description.  A subscription or preference naming a channel its user cannot be
#: reached by is refused when it is set, rather than parked dead at every notification.
CHANNEL_NEEDS: dict[str, tuple[str, str]] = {
    "email": ("email", "an e-mail address"),
    "report": ("email", "an e-mail address"),
    "sms": ("phone", "a phone number"),
}


def unservable_reason(channel: str, user: Any) -> str | None:
    """Why ``channel`` cannot serve ``user`` (a missing address or number), or ``None``."""
    need = CHANNEL_NEEDS.get(channel)
    if need is None:
        return None
    attribute, what = need
    value = getattr(user, attribute, None)
    if isinstance(value, str) and value.strip():
        return None
    return (
        f"the {channel!r} channel cannot reach {getattr(user, 'login', 'this user')!r}: "
        f"they have no {attribute} ({what} is needed; set one, or choose another channel)"
    )


@dataclass(frozen=True)
class SendResult:
    """What became of one message.

    :param delivery_id: the message's delivery id (results come back in message order; the
        id makes a mismatch detectable).
    :param ok: delivered (or, for an external channel, accepted by the next hop).
    :param error: why not, in words fit for ``grc notify dead`` (no secrets).
    :param retryable: whether trying again later may work; ``False`` parks the delivery as
        dead at once.
    :param message_id: the identifier the channel gave the message (the e-mail Message-ID,
        the task's UUID…), stored on the delivery.
    """

    delivery_id: int
    ok: bool
    error: str | None = None
    retryable: bool = True
    message_id: str | None = None

    @classmethod
    def sent(cls, delivery_id: int, message_id: str | None = None) -> SendResult:
        """A delivered message."""
        return cls(delivery_id, True, None, False, message_id)

    @classmethod
    def failed(
        cls, delivery_id: int, error: str, *, retryable: bool, message_id: str | None = None
    ) -> SendResult:
        """A message that was not delivered, and whether a later attempt may work."""
        return cls(delivery_id, False, error, retryable, message_id)


@runtime_checkable
class NotificationChannel(Protocol):
    """A way of delivering notifications, built by a plugin's factory from its configuration.

    One channel object serves many batches, one at a time (a worker that runs batches in
    parallel builds one channel per thread).  Optional attribute: ``transactional = True``
    for a channel that only writes through the session it is given (see the module
    documentation).
    """

    #: The name the channel is registered under (``"email"``).
    name: str

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Deliver ``messages``; one result per message, in order.

        :param session: the pipeline's transaction, which also marks the deliveries sent.
            Database channels write through it (and must not commit it); external channels
            ignore it or only read.
        :param messages: the batch, possibly empty.
        :returns: ``len(messages)`` results, ``results[i].delivery_id ==
            messages[i].delivery_id``.  A message that cannot be delivered is a failed
            result, not an exception.
        """
        ...

    def close(self) -> None:
        """Release what the channel holds (connections, files).  Calling it twice is
        harmless; the channel is not used afterwards."""
        ...


class UnknownChannel(PluginError, LookupError):
    """No installed plugin provides a notification channel of this name.

    :param name: the name asked for.
    :param available: the names that are registered.
    """

    def __init__(self, name: str, available: Sequence[str]) -> None:
        names = ", ".join(sorted(available)) or "none (no channel plugin is installed)"
        super().__init__(f"no notification channel is named {name!r}; available: {names}")
        self.name = name
        self.available = sorted(available)


class ChannelSettings:
    """Typed reading of a channel's configuration table, for channel factories.

    Values may come from TOML (typed) or from ``GRC_CHANNEL__<NAME>__<KEY>`` environment
    variables (always strings), so numbers and booleans are accepted in both forms.  Error
    messages name the channel and the key, and never show a value (it may be a secret).

    :param channel: the channel's name, for messages.
    :param config: its configuration table.
    :param accepted: every key the channel understands; any other is an error.
    :raises ConfigError: an unknown key.
    """

    def __init__(self, channel: str, config: Mapping[str, Any], accepted: Sequence[str]) -> None:
        self.channel = channel
        self.config = dict(config)
        self.accepted = tuple(accepted)
        unknown = sorted(k for k in self.config if k not in self.accepted)
        if unknown:
            raise ConfigError(
                f"the {channel!r} channel has no setting {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(self.accepted)}"
            )

    def _error(self, key: str, expected: str) -> ConfigError:
        return ConfigError(f"the {self.channel!r} channel's {key} must be {expected}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        """A string setting; blank counts as missing."""
        value = self.config.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ConfigError(f"the {self.channel!r} channel needs the setting {key}")
            return default
        if not isinstance(value, str):
            raise self._error(key, "a string")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
        """An integer setting within ``[minimum, maximum]``."""
        value = self.config.get(key, default)
        try:
            number = int(value) if not isinstance(value, bool | float) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not minimum <= number <= maximum:
            raise self._error(key, f"an integer from {minimum} to {maximum}")
        return number

    def number(
        self, key: str, default: float, *, minimum: float = 0.0, maximum: float = 1e9
    ) -> float:
        """A number setting (seconds…) within ``[minimum, maximum]``."""
        value = self.config.get(key, default)
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        # ``not minimum <= number`` also refuses NaN.
        if number is None or not minimum <= number <= maximum:
            raise self._error(key, f"a number from {minimum:g} to {maximum:g}")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean setting (``true``/``false``, ``1``/``0``, ``yes``/``no`` as text)."""
        value = self.config.get(key, default)
        if isinstance(value, bool):
            return value
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if isinstance(value, str) and value.strip().lower() in words:
            return words[value.strip().lower()]
        raise self._error(key, "true or false")

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices`` (case-insensitive)."""
        value = self.config.get(key, default)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise self._error(key, f"one of {', '.join(choices)}")
