"""The ``sms`` plugin: registers :class:`~grc_adapters.sms.SmsChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    sms = "grc_adapters.sms.plugin"

Configuration (``[grc.channels.sms]`` or ``GRC_CHANNEL__SMS__<KEY>``)::

    url = "https://sms.example.com/api/send"     # a template: ?to={{ phone|urlencode }}
    method = "POST"                               # POST | PUT | GET
    body = '{"to": {{ phone|tojson }}, "text": {{ text|tojson }}}'   # the default
    content_type = "application/json"
    auth_header = "Authorization"
    auth_secret = "Bearer …"                      # better: GRC_CHANNEL__SMS__AUTH_SECRET
    timeout = 10                                  # seconds
    max_length = 640                              # longer texts are cut
    ca_file = "/etc/ssl/private-ca.pem"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.sms.channel import SMS_KEYS, SmsChannel, SmsSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_core.plugins.settings import declare


def make_sms_channel(config: Mapping[str, Any]) -> SmsChannel:
    """Build the SMS channel from its configuration table.

    :raises ConfigError: an unknown, missing or malformed setting (never echoing a secret).
    """
    return SmsChannel(SmsSettings.from_config(config))


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``sms``."""
    register(
        "sms",
        make_sms_channel,
        description="text messages through an HTTP SMS gateway",
        # The URL may carry the gateway's key in its query string: never shown either.
        settings=declare(SMS_KEYS, secrets=("auth_secret", "url")),
    )
