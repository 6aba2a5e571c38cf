"""An example GRC notification channel: JSON posted to a webhook, named ``example-webhook``."""

from grc_example_channel.channel import WebhookChannel

__all__ = ["WebhookChannel"]
__version__ = "0.1.0"
