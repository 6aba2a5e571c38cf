"""The ``email`` plugin: registers :class:`~grc_adapters.email.EmailChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    email = "grc_adapters.email.plugin"

Configuration (``[grc.channels.email]`` or ``GRC_CHANNEL__EMAIL__<KEY>``)::

    host = "smtp.example.com"
    port = 587                        # default: 25, 587 with starttls, 465 with ssl
    tls = "starttls"                  # none | starttls | ssl
    username = "grc"
    password = "…"                    # better: GRC_CHANNEL__EMAIL__PASSWORD
    from_address = "GRC <grc@example.com>"
    message_id_domain = "example.com" # default: the domain of from_address
    timeout = 30                      # seconds, each SMTP step
    ca_file = "/etc/ssl/private-ca.pem"   # default: the system's CA certificates
    connections = 4                   # SMTP connections a batch is spread over (1-32)
    # or, instead of SMTP, append every message to a local mbox file:
    mailbox = "/var/lib/grc/outbox.mbox"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.email.channel import EmailChannel
from grc_adapters.email.transport import EMAIL_KEYS, EmailSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_core.plugins.settings import declare


def make_email_channel(config: Mapping[str, Any]) -> EmailChannel:
    """Build the email channel from its configuration table.

    :raises ConfigError: an unknown, missing or malformed setting (never echoing a secret).
    """
    return EmailChannel(EmailSettings.from_config(config))


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``email``."""
    register(
        "email",
        make_email_channel,
        description="e-mail over SMTP (text and HTML), or into a local mbox file",
        settings=declare(EMAIL_KEYS, secrets=("password",)),
    )
