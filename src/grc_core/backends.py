"""The storage backends a running GRC uses: built on first use, closed together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from grc_core.config import Settings
from grc_core.errors import ConfigError
from grc_core.plugins.registry import Registry
from grc_core.plugins.settings import FILE_SUFFIX, Setting, check_settings
from grc_core.storage.backend import StorageBackend


def check_configuration(settings: Settings, registry: Registry) -> None:
    """Check the ``[grc.storage.*]`` and ``[grc.channels.*]`` tables against the plugins.

    A table must name an installed backend (its own name, or ``type = "…"``) or channel,
    and hold only the keys that backend or channel declared (when it declared them): a
    typo (``[grc.channels.emial]``, ``rooot = …``) is an error, never a silently ignored
    setting.  Secret files are not read here (only when the backend or channel is built).

    :raises ConfigError: the first wrong table or key; the message lists the known ones.
    """
    backends = registry.storage_backend_names()
    for name in sorted(settings.storage):
        config = dict(settings.storage[name])
        kind = str(config.pop("type", _registered(name, backends)))
        if kind not in backends:
            how = f"type {kind!r}" if kind != name else "this name"
            raise ConfigError(
                f"[grc.storage.{name}]: no installed storage backend has {how}; installed: "
                f"{', '.join(backends) or 'none'} (a table named otherwise needs "
                'type = "<backend>")'
            )
        owner = f"[grc.storage.{name}]: the {name!r} storage backend" + (
            f" (type {kind})" if kind != name else ""
        )
        _check_keys(owner, registry.storage_backend_settings(kind), config)
    channels = registry.notification_channel_names()
    for table in sorted(settings.channels):
        name = _registered(table, channels)
        if name not in channels:
            raise ConfigError(
                f"[grc.channels.{name}]: no installed notification channel has this name; "
                f"installed: {', '.join(channels) or 'none'}"
            )
        declared = registry.notification_channel_settings(name)
        owner = f"[grc.channels.{table}]: the {name!r} channel"
        _check_keys(owner, declared, settings.channels[table])


def _registered(table: str, names: Sequence[str]) -> str:
    """The registered name a table stands for: its own, or — for a table that only
    environment variables made (``GRC_STORAGE__MY_GED__URL``: ``my_ged``) — the one name
    they spell that way (``my-ged``)."""
    if table in names:
        return table
    spelt = [n for n in names if n.replace("-", "_").lower() == table]
    return spelt[0] if len(spelt) == 1 else table


def _check_keys(owner: str, declared: Sequence[Setting] | None, config: Mapping[str, Any]) -> None:
    if declared is None:
        return
    # The names and types; a secret's file is only read when the backend is built.
    files = {s.name + FILE_SUFFIX: s.name for s in declared if s.secret}
    plain = {k: v for k, v in config.items() if k not in files}
    for key, name in files.items():
        if key in config:
            if name in config:
                raise ConfigError(f"{owner}: give {name} or {key}, not both")
            plain[name] = "(read from a file)"
    check_settings(owner, declared, plain)


class Backends:
    """Storage backends by name, with the one new attachments go to.

    Rows remember which backend holds their blob, so reading may need a backend other than
    the default (during or after a migration); each is built on first use.

    **One instance per thread.** A backend instance is only ever used by one thread at a
    time: each thread asking for a backend gets its own (a web server's worker threads
    each build theirs once), so a plugin needs no locks around its client library's
    session.  The instances given to :meth:`of` are the exception: the host that made them
    shares them, and makes them safe for its threads.

    :param build: makes the backend of a name (usually the plugin registry's factory).
    :param default: the name of the backend new attachments are stored in.
    """

    def __init__(self, build: Callable[[str], StorageBackend], default: str) -> None:
        self._build = build
        self.default_name = default
        self._instances: dict[tuple[str, int], StorageBackend] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, registry: Registry, settings: Settings) -> Backends:
        """Backends configured by ``settings``, made by the plugins of ``registry``.

        A configured name is the registered backend of that name, unless its table says
        ``type = "…"``: ``[grc.storage.archive]`` with ``type = "local"`` is a second local
        root, for instance (the target of a migration).
        """

        def build(name: str) -> StorageBackend:
            config = dict(settings.backend_config(name))
            kind = str(config.pop("type", name))
            return registry.storage_backend(kind, config, configured_as=name)

        check_configuration(settings, registry)
        return cls(build, settings.storage_backend)

    @classmethod
    def of(cls, instances: Mapping[str, StorageBackend], default: str) -> Backends:
        """Backends from ready-made instances (tests, hosts that build their own)."""

        def build(name: str) -> StorageBackend:
            from grc_core.errors import UnknownBackend

            if name not in instances:
                raise UnknownBackend(name, list(instances))
            return instances[name]

        return cls(build, default)

    def get(self, name: str) -> StorageBackend:
        """The backend called ``name``, this thread's instance."""
        slot = (name, threading.get_ident())
        with self._lock:
            backend = self._instances.get(slot)
        if backend is None:
            backend = self._build(name)  # outside the lock: it may connect to a server
            with self._lock:
                self._instances[slot] = backend
        return backend

    @property
    def default(self) -> StorageBackend:
        """The backend new attachments are stored in."""
        return self.get(self.default_name)

    def close(self) -> None:
        """Close every backend built so far (by any thread)."""
        with self._lock:
            built = list({id(b): b for b in self._instances.values()}.values())
            self._instances.clear()
        for backend in built:
            backend.close()
