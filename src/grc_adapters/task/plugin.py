"""The ``task`` plugin: registers :class:`~grc_adapters.task.TaskChannel`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    task = "grc_adapters.task.plugin"

Configuration (all optional; ``[grc.channels.task]`` or ``GRC_CHANNEL__TASK__<KEY>``)::

    action = "todo"             # the action code of the created exchanges
    status = "planned"          # their status code
    due_days = 1                # their due date, days after creation
    notify_new_tasks = false    # whether creating a task is itself notified
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_adapters.task.channel import TaskChannel
from grc_core.notify.channels import ChannelSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterNotificationChannel
from grc_core.plugins.settings import declare


def make_task_channel(config: Mapping[str, Any]) -> TaskChannel:
    """Build the task channel from its configuration table.

    :raises ConfigError: an unknown or malformed setting.
    """
    read = ChannelSettings("task", config, ("action", "status", "due_days", "notify_new_tasks"))
    return TaskChannel(
        action=read.text("action", "todo") or "todo",
        status=read.text("status", "planned") or "planned",
        due_days=read.number("due_days", 1.0, maximum=3650),
        notify_new_tasks=read.boolean("notify_new_tasks", False),
    )


@hookimpl
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register ``task``."""
    register(
        "task",
        make_task_channel,
        description="a To-do exchange assigned to the recipient",
        settings=declare(("action", "status", "due_days", "notify_new_tasks")),
    )
