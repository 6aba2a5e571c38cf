"""The plugin module named by the ``grc`` entry point: registers ``example-webhook``.

GRC imports this module every time it loads its plugins, so it stays light.  The settings
are declared: GRC refuses a misspelt key, converts ``timeout`` from an environment
variable's text, never shows ``token`` and accepts ``token_file`` instead of ``token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_core.errors import ConfigError
from grc_core.plugins import Setting, hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_example_channel.channel import WebhookChannel

SETTINGS = [
    Setting("url", str, required=True, description="where to post the messages"),
    Setting("token", str, secret=True, description="sent as a bearer token"),
    Setting("timeout", float, description="seconds for each post (default 10)"),
]


def make_webhook_channel(config: Mapping[str, Any]) -> WebhookChannel:
    """Build the channel from its ``[grc.channels.example-webhook]`` table (already checked
    against :data:`SETTINGS`)."""
    url = config["url"]
    if not url.startswith(("https://", "http://")):
        raise ConfigError("the 'example-webhook' channel's url must start with https://")
    timeout = config.get("timeout", 10.0)
    if not timeout > 0:
        raise ConfigError("the 'example-webhook' channel's timeout must be positive")
    return WebhookChannel(url, config.get("token"), timeout)


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register the channel and its settings."""
    register(
        "example-webhook",
        make_webhook_channel,
        description="JSON posted to a URL (example third-party plugin)",
        settings=SETTINGS,
    )
