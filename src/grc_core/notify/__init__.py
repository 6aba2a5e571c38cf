"""Notifications: subscriptions, rules, fan-out, delivery, templates and channels.

- :mod:`grc_core.notify.templates` — :func:`~grc_core.notify.templates.render` and its
  sandbox, :func:`~grc_core.notify.templates.merge_fields` (the mail-merge fields) and
  :func:`~grc_core.notify.templates.check_template` (for rule editors, at save time);
- :mod:`grc_core.notify.channels` — :class:`~grc_core.notify.channels.NotificationChannel`,
  the protocol every channel plugin implements, and the messages and results it exchanges
  with the delivery pipeline;
- :mod:`grc_core.notify.inbox` — the on-screen inbox of a user (list, unread count, mark
  read).

Channels themselves are plugins (``grc_adapters.email``, ``.sms``, ``.inbox``, ``.task``,
``.report``), built by :meth:`grc_core.plugins.Registry.notification_channel`.

Nothing is imported here, so that importing one module of the package (the fan-out, say)
does not import Jinja2 or every other module.
"""
