"""The ``report`` notification channel: a digest of a company's recent history, by e-mail
(entry point ``report``)."""

from grc_adapters.report.channel import ReportChannel

__all__ = ["ReportChannel"]
