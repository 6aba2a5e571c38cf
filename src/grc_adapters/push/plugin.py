"""The ``push`` plugin: registers :class:`~grc_adapters.push.PushChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    push = "grc_adapters.push.plugin"

Configuration (``[grc.channels.push]`` or ``GRC_CHANNEL__PUSH__<KEY>``)::

    vapid_private_key = "/etc/grc/vapid_private.pem"  # default: next to the config file
    subject = "mailto:grc-admin@example.com"          # who push services may contact
    ttl = 86400                                       # seconds kept for an offline device
    timeout = 10                                      # seconds per push service request

``grc push keys`` creates the key; the web application subscribes with its public half.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.push.channel import ACCEPTED, PushChannel, PushSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_core.plugins.settings import declare


def make_push_channel(config: Mapping[str, Any]) -> PushChannel:
    """Build the push channel from its configuration table.

    :raises ConfigError: an unknown or malformed setting.
    """
    return PushChannel(PushSettings.from_config(config))


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``push``."""
    register(
        "push",
        make_push_channel,
        description="Web Push alerts on the user's devices",
        settings=declare(ACCEPTED),
    )
