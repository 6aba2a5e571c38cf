"""The hook specifications of GRC exchanges: the whole plugin API in one module.

A plugin is a module (or any object) with functions named after these hooks, usually marked
with :data:`grc_core.plugins.hookimpl`, declared in its distribution's metadata under the
``grc`` entry-point group::

    [project.entry-points.grc]
    everteam = "grc_everteam.plugin"

Registration hooks receive a ``register`` callback (as llm and tox do) rather than returning
values: the callback validates what it is given at once, knows which plugin is calling, and
lets the API grow keyword arguments without breaking existing plugins.

Every hook is documented with its exact signature in ``docs/plugins/hooks.md``; a test keeps
the two in step.

This module deliberately does not use ``from __future__ import annotations``: the
signatures shown by :func:`inspect.signature` (and so in the documentation) then name the
real types rather than strings.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import click

from grc_core.event_hooks import CommittedEvent
from grc_core.notify.channels import NotificationChannel
from grc_core.plugins.markers import hookspec
from grc_core.plugins.scanning import Scanner
from grc_core.plugins.settings import Setting
from grc_core.storage.backend import StorageBackend

# --- the callbacks handed to registration hooks ----------------------------------------------


class StorageBackendFactory(Protocol):
    """Builds a storage backend from its configuration.

    The configuration is the backend's table from the GRC configuration (for example
    ``{"root": "/srv/grc/blobs"}`` or ``{"site_url": …, "client_secret": …}``), read-only,
    already checked against the settings the backend declared (``settings=`` of
    :class:`RegisterStorageBackend`: no unknown key, values of the declared types, secrets
    read from their ``*_file``).  Raise :class:`~grc_core.errors.ConfigError` when a value
    is wrong; never put secret values in the message.  Import heavy client libraries here,
    not at module level, so that ``grc`` starts without them.

    A factory that also takes a keyword argument ``name`` (``def make(config, *,
    name="everteam")``) receives the name the backend is configured under: ``archive`` for
    ``[grc.storage.archive]`` with ``type = "everteam"``, so that its messages can say
    which of two copies is misconfigured (*versionadded* 0.2).
    """

    def __call__(self, config: Mapping[str, Any], /) -> StorageBackend: ...


class RegisterStorageBackend(Protocol):
    """The ``register`` callback of :func:`grc_register_storage_backends`."""

    def __call__(
        self,
        name: str,
        factory: StorageBackendFactory,
        *,
        description: str = "",
        requires: Sequence[str] = (),
        extra: str | None = None,
        settings: Sequence[Setting] | None = None,
    ) -> None:
        """Make a storage backend available under ``name``.

        :param name: lower-case letters, digits, ``-``, ``_`` or ``.``; unique among all
            installed plugins (a clash is an error naming both plugins).
        :param factory: called with the backend's configuration when the backend is used.
        :param description: one line for ``grc plugins list``.
        :param requires: importable module names the backend needs (``"office365"``); they
            are looked up without being imported, and a missing one makes asking for the
            backend raise :class:`~grc_core.errors.BackendNotInstalled`.
        :param extra: the pip extra of the plugin's distribution that installs ``requires``
            (``"sharepoint"`` → ``pip install 'grc-exchanges[sharepoint]'``).
        :param settings: the keys of the backend's configuration table, each a
            :class:`~grc_core.plugins.settings.Setting` (name, type, secret, required); GRC
            then refuses unknown keys and wrong types, reads secrets from ``<key>_file``
            and never shows secrets.  ``None`` (the default): the table is not checked.
            *versionadded* 0.2.
        """
        ...


class RegisterScanner(Protocol):
    """The ``register`` callback of :func:`grc_register_scanners`."""

    def __call__(self, name: str, scanner: Scanner) -> None:
        """Add ``scanner`` to the scanners every upload goes through.

        :param name: unique among installed scanners.
        :param scanner: a :class:`~grc_core.plugins.scanning.Scanner`.
        """
        ...


class NotificationChannelFactory(Protocol):
    """Builds a notification channel from its configuration.

    The configuration is the channel's ``[grc.channels.<name>]`` table (for example
    ``{"host": "smtp.example.com", "password": …}``), read-only, already checked against
    the settings the channel declared.  Raise :class:`~grc_core.errors.ConfigError` when a
    value is wrong; never put secret values in the message.  Do not connect here: connect
    when sending.  A factory that takes a keyword argument ``name`` receives the channel's
    name.
    """

    def __call__(self, config: Mapping[str, Any], /) -> NotificationChannel: ...


class RegisterNotificationChannel(Protocol):
    """The ``register`` callback of :func:`grc_register_notification_channels`."""

    def __call__(
        self,
        name: str,
        factory: NotificationChannelFactory,
        *,
        description: str = "",
        settings: Sequence[Setting] | None = None,
    ) -> None:
        """Make a notification channel available under ``name``.

        :param name: lower-case letters, digits, ``-``, ``_`` or ``.``; unique among
            installed channels (``"email"``, ``"sms"``…); the name rules and subscriptions
            use.
        :param factory: called with the channel's configuration when it is used; returns a
            :class:`~grc_core.notify.channels.NotificationChannel`.
        :param description: one line for ``grc plugins list``.
        :param settings: the keys of the channel's configuration table (see
            :class:`RegisterStorageBackend`); ``None``: the table is not checked.
            *versionadded* 0.2.
        """
        ...


# --- the hooks --------------------------------------------------------------------------------


@hookspec
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register storage backends (GED adapters) by calling ``register`` once per backend.

    Called once per plugin manager, when a :class:`~grc_core.plugins.Registry` is built.
    Do not connect to anything here: connect in the factory.

    :param register: a :class:`RegisterStorageBackend` callback:
        ``register(name, factory, *, description="", requires=(), extra=None,
        settings=None)``.

    .. versionadded:: 0.1
    """


@hookspec
def grc_register_scanners(register: RegisterScanner) -> None:
    """Register content scanners (antivirus…) that may refuse a file before it is stored.

    :param register: a :class:`RegisterScanner` callback: ``register(name, scanner)``.

    .. versionadded:: 0.1
    """


@hookspec
def grc_register_notification_channels(register: RegisterNotificationChannel) -> None:
    """Register notification channels (email, SMS, on-screen alert…).

    A channel receives batches of rendered messages and returns one result per message (see
    :class:`~grc_core.notify.channels.NotificationChannel`); the tests every channel must
    pass are in :mod:`grc_core.testing.channel_contract`.  Do not connect to anything here:
    connect in the factory or when sending.

    :param register: a :class:`RegisterNotificationChannel` callback:
        ``register(name, factory, *, description="", settings=None)``.

    .. versionadded:: 0.1
    """


@hookspec
def grc_register_commands(cli: click.Group) -> None:
    """Add commands to the ``grc`` command line.

    :param cli: the top-level ``grc`` click group; call ``cli.add_command(...)`` or
        decorate with ``@cli.command()``.  Keep command names prefixed or distinctive: a
        plugin must not replace a built-in command.

    .. versionadded:: 0.1
    """


@hookspec
def grc_event_committed(event: CommittedEvent) -> None:
    """Observe a change: called once per audit event, after its transaction committed.

    In-process and best-effort: called synchronously in the process that made the change,
    right after its commit, once per event in id order (sessions of the
    :class:`~grc_core.facade.Grc` facade, and any session a host passes to
    :func:`grc_core.event_hooks.watch`).  Nothing is announced for a transaction that rolls
    back.  An exception is logged and ignored: it neither undoes the change nor stops the
    other plugins.  A crash right after the commit loses the call: a consumer that must
    see every event reads the trail from a cursor instead
    (:func:`grc_core.queries.audit.audit_events` with ``oldest_first=True``).

    The event is not filtered: a plugin is code the host chose to run, trusted like the
    host itself, and sees private exchanges' values.  Do not forward them to anyone who
    may not see them (:func:`grc_core.visibility.can_see_audience` on ``event.audience``).
    Keep it quick (the caller waits) and do not use the committing session.

    :param event: a read-only :class:`~grc_core.event_hooks.CommittedEvent`.

    .. versionadded:: 0.2
    """
