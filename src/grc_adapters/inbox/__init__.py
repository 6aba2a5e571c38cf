"""The ``inbox`` notification channel: on-screen alerts in the database (entry point
``inbox``)."""

from grc_adapters.inbox.channel import InboxChannel

__all__ = ["InboxChannel"]
