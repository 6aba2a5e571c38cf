"""The ``task`` notification channel: a To-do exchange for the recipient (entry point
``task``)."""

from grc_adapters.task.channel import TASK_NAMESPACE, TaskChannel, task_uuid

__all__ = ["TASK_NAMESPACE", "TaskChannel", "task_uuid"]
