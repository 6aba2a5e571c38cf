"""The ``report`` plugin: registers :class:`~grc_adapters.report.ReportChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    report = "grc_adapters.report.plugin"

Configuration (``[grc.channels.report]`` or ``GRC_CHANNEL__REPORT__<KEY>``): the settings
of the ``email`` channel (``host``, ``port``, ``tls``, ``username``, ``password``,
``from_address``, ``message_id_domain``, ``timeout``, ``ca_file`` — or ``mailbox``), plus::

    days = 30        # how far back the history goes
    limit = 50       # the most exchanges listed (1 to 200)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.email.transport import EMAIL_KEYS, EmailSettings
from grc_adapters.report.channel import ReportChannel
from grc_core.notify.channels import ChannelSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_core.plugins.settings import declare
from grc_core.queries.history import MAX_PAGE


def make_report_channel(config: Mapping[str, Any]) -> ReportChannel:
    """Build the report channel from its configuration table.

    :raises ConfigError: an unknown, missing or malformed setting (never echoing a secret).
    """
    settings = EmailSettings.from_config(config, channel="report", extra=("days", "limit"))
    read = ChannelSettings("report", config, (*config.keys(),))
    return ReportChannel(
        settings,
        days=read.integer("days", 30, minimum=1, maximum=3650),
        limit=read.integer("limit", 50, minimum=1, maximum=MAX_PAGE),
    )


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``report``."""
    register(
        "report",
        make_report_channel,
        description="an HTML digest of a company's recent history, by e-mail",
        settings=declare((*EMAIL_KEYS, "days", "limit"), secrets=("password",)),
    )
