"""The ``email`` notification channel: SMTP (or a local mbox file), entry point ``email``.

:mod:`grc_adapters.email.transport` holds the sending code, which the ``report`` channel
reuses.
"""

from grc_adapters.email.channel import EmailChannel
from grc_adapters.email.transport import (
    EmailSettings,
    Envelope,
    MboxTransport,
    SmtpTransport,
    build_email,
    make_transport,
)

__all__ = [
    "EmailChannel",
    "EmailSettings",
    "Envelope",
    "MboxTransport",
    "SmtpTransport",
    "build_email",
    "make_transport",
]
