"""The ``inbox`` plugin: registers :class:`~grc_adapters.inbox.InboxChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    inbox = "grc_adapters.inbox.plugin"

No configuration.  Users read their inbox with ``grc inbox`` (or
:mod:`grc_core.notify.inbox` from a host application).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.inbox.channel import InboxChannel
from grc_core.notify.channels import ChannelSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel


def make_inbox_channel(config: Mapping[str, Any]) -> InboxChannel:
    """Build the inbox channel (it takes no settings).

    :raises ConfigError: a setting was given.
    """
    ChannelSettings("inbox", config, ())
    return InboxChannel()


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``inbox``."""
    register(
        "inbox",
        make_inbox_channel,
        description="on-screen alerts in each user's inbox",
        settings=[],  # none: any key is a mistake
    )
