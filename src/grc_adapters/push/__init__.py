"""The ``push`` notification channel: Web Push messages to the devices a user enabled."""

from grc_adapters.push.channel import PushChannel, PushSettings

__all__ = ["PushChannel", "PushSettings"]
