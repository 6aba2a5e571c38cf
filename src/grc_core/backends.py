"""The storage backends a running GRC uses: built on first use, closed together."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from grc_core.config import Settings
from grc_core.plugins.registry import Registry
from grc_core.storage.backend import StorageBackend


class Backends:
    """Storage backends by name, with the one new attachments go to.

    Rows remember which backend holds their blob, so reading may need a backend other than
    the default (during or after a migration); each is built once, on first use.

    :param build: makes the backend of a name (usually the plugin registry's factory).
    :param default: the name of the backend new attachments are stored in.
    """

    def __init__(self, build: Callable[[str], StorageBackend], default: str) -> None:
        self._build = build
        self.default_name = default
        self._instances: dict[str, StorageBackend] = {}

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
            return registry.storage_backend(kind, config)

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
        """The backend called ``name``."""
        if name not in self._instances:
            self._instances[name] = self._build(name)
        return self._instances[name]

    @property
    def default(self) -> StorageBackend:
        """The backend new attachments are stored in."""
        return self.get(self.default_name)

    def close(self) -> None:
        """Close every backend built so far."""
        for backend in self._instances.values():
            backend.close()
        self._instances.clear()
