"""The ``sms`` notification channel: text messages through an HTTP gateway (entry point
``sms``)."""

from grc_adapters.sms.channel import SmsChannel, SmsSettings

__all__ = ["SmsChannel", "SmsSettings"]
