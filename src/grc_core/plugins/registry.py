"""What the installed plugins provide: storage backends, scanners, channels, commands.

A :class:`Registry` calls the registration hooks of a plugin manager once, plugin by plugin
(so that it knows who registered what), and then builds backends on demand::

    registry = Registry(make_plugin_manager())
    backend = registry.storage_backend("local", {"root": "/srv/grc/blobs"})

Nothing heavy is imported until a backend is asked for: a backend's ``requires`` modules are
looked up with :func:`importlib.util.find_spec`, which finds a module without running it
(fsspec's registry does the same), so ``grc`` starts, and ``grc plugins list`` works, with
none of the GED clients installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

import click
import pluggy

from grc_core.errors import BackendNotInstalled, GrcError, PluginError, UnknownBackend
from grc_core.notify.channels import NotificationChannel, UnknownChannel
from grc_core.plugins.hookspecs import NotificationChannelFactory, StorageBackendFactory
from grc_core.plugins.manager import make_plugin_manager
from grc_core.plugins.scanning import Scanner
from grc_core.plugins.settings import Setting, check_settings, secret_keys
from grc_core.storage.backend import StorageBackend

#: Config keys whose values are never shown: they contain one of these words.
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|key|cert|credential", re.I)
_REDACTED = "***"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
#: The distribution named in install hints when a plugin's own cannot be found.
_OWN_DISTRIBUTION = "grc-exchanges"


def is_secret_key(key: str) -> bool:
    """Whether a configuration key names a secret (password, token, API key, certificate…)."""
    return bool(_SECRET_KEY.search(str(key)))


def redact(mapping: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of ``mapping`` safe to show: secret-looking keys get ``"***"``.

    Nested mappings (and lists of them) are redacted too.  Empty and ``None`` values are
    kept, so that "not set" stays visible.

    :param secrets: more keys to hide whatever their names: the settings a backend or
        channel declared secret (:meth:`Registry.secret_keys`), e.g. a ``webhook_url``.
    """
    declared = frozenset(secrets)

    def clean(key: str, value: Any) -> Any:
        if (key in declared or is_secret_key(key)) and value not in (None, ""):
            return _REDACTED
        if isinstance(value, Mapping):
            return redact(value, declared)
        if isinstance(value, list | tuple):
            return [clean("", item) for item in value]
        return value

    return {key: clean(key, value) for key, value in mapping.items()}


def _secret_values(mapping: Mapping[str, Any], declared: Iterable[str] = ()) -> list[str]:
    declared = frozenset(declared)
    found: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            found += _secret_values(value, declared)
        elif (key in declared or is_secret_key(key)) and value not in (None, ""):
            found.append(str(value))
    # Longest first, so that a secret containing another is replaced whole.
    return sorted(set(found), key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def _accepts_name(factory: Callable[..., Any]) -> bool:
    """Whether a factory takes the ``name`` keyword (the name it is configured under)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or a C callable without a signature
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == "name" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def _declared(plugin: str, what: str, name: str, settings: object) -> tuple[Setting, ...] | None:
    if settings is None:
        return None
    if isinstance(settings, Setting):
        settings = (settings,)
    if not isinstance(settings, Sequence) or not all(isinstance(s, Setting) for s in settings):
        raise PluginError(
            f"plugin {plugin!r}: the settings of {what} {name!r} must be a list of "
            "grc_core.plugins.Setting"
        )
    return tuple(settings)


def _module_of(plugin: object) -> str:
    """The module a plugin comes from (itself, for a module)."""
    if inspect.ismodule(plugin):
        return plugin.__name__
    return str(getattr(plugin, "__module__", None) or type(plugin).__module__)


def _missing_modules(modules: Iterable[str]) -> list[str]:
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a missing parent package, a broken __spec__
            found = False
        if not found:
            missing.append(module)
    return missing


@dataclass(frozen=True)
class StorageBackendInfo:
    """A registered storage backend, as ``grc plugins list`` shows it.

    :param name: the backend's name.
    :param plugin: the name of the plugin that registered it.
    :param description: one line.
    :param requires: the modules it needs.
    :param extra: the pip extra that installs them.
    :param missing: the modules of ``requires`` that are not installed (empty: usable).
    :param install: the pip requirement that installs them (``grc-exchanges[sharepoint]``).
    :param secrets: the settings it declares secret (to pass to :func:`redact`).
    """

    name: str
    plugin: str
    description: str
    requires: tuple[str, ...]
    extra: str | None
    missing: tuple[str, ...]
    install: str | None
    secrets: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """Whether every required module is installed."""
        return not self.missing


@dataclass(frozen=True)
class NotificationChannelInfo:
    """A registered notification channel, as ``grc plugins list`` shows it.

    :param name: the channel's name.
    :param plugin: the name of the plugin that registered it.
    :param description: one line.
    """

    name: str
    plugin: str
    description: str


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin and what it provides, for ``grc plugins list``.

    :param name: the plugin's name (its entry-point name, or its module name when
        registered explicitly).
    :param module: the module the plugin object comes from.
    :param distribution: the installed distribution that declares it, if any.
    :param version: that distribution's version.
    """

    name: str
    module: str
    distribution: str | None
    version: str | None
    storage_backends: tuple[str, ...] = ()
    scanners: tuple[str, ...] = ()
    notification_channels: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists), for ``--json`` output."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Backend:
    name: str
    factory: StorageBackendFactory
    description: str
    requires: tuple[str, ...]
    extra: str | None
    plugin_name: str
    plugin: object
    settings: tuple[Setting, ...] | None = None
    wants_name: bool = False


@dataclass(frozen=True)
class _Named:
    name: str
    value: Any
    description: str
    plugin_name: str
    settings: tuple[Setting, ...] | None = None
    wants_name: bool = False


class Registry:
    """The storage backends, scanners and channels registered by a plugin manager's plugins.

    :param plugin_manager: from :func:`~grc_core.plugins.make_plugin_manager`.
    :raises PluginError: a plugin's registration hook failed or registered something
        invalid (a bad name, a name another plugin already took…).
    """

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self.plugin_manager = plugin_manager
        self._backends: dict[str, _Backend] = {}
        self._scanners: dict[str, _Named] = {}
        self._channels: dict[str, _Named] = {}
        self._collect()

    @classmethod
    def load(
        cls, *, autoload: bool = True, plugins: Sequence[object] = (), blocked: Sequence[str] = ()
    ) -> Registry:
        """A registry on a new plugin manager (see :func:`make_plugin_manager`)."""
        return cls(make_plugin_manager(autoload=autoload, plugins=plugins, blocked=blocked))

    # --- collecting ---------------------------------------------------------------------

    def _plugins(self) -> list[tuple[str, object]]:
        # Registration order, blocked names (registered as None) left out.
        return [(n, p) for n, p in self.plugin_manager.list_name_plugin() if p is not None]

    def _call_per_plugin(self, hook: str, make_kwargs: Callable[[str], dict[str, Any]]) -> None:
        """Call ``hook`` for one plugin at a time, so that each call knows its caller."""
        plugins = self._plugins()
        for name, plugin in plugins:
            others = [p for _, p in plugins if p is not plugin]
            caller = self.plugin_manager.subset_hook_caller(hook, remove_plugins=others)
            try:
                caller(**make_kwargs(name))
            except GrcError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} failed in {hook}: {type(exc).__name__}: {exc}"
                ) from exc

    def _collect(self) -> None:
        self._call_per_plugin(
            "grc_register_storage_backends",
            lambda plugin_name: {"register": self._storage_register(plugin_name)},
        )
        self._call_per_plugin(
            "grc_register_scanners",
            lambda plugin_name: {"register": self._scanner_register(plugin_name)},
        )
        self._call_per_plugin(
            "grc_register_notification_channels",
            lambda plugin_name: {"register": self._channel_register(plugin_name)},
        )

    def _check_name(self, what: str, name: object, taken: Mapping[str, Any], plugin: str) -> str:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(
                f"plugin {plugin!r} registered the {what} name {name!r}; a name is 1 to 64 "
                "characters: lower-case letters, digits, '.', '_' and '-', starting with a "
                "letter or digit"
            )
        if name in taken:
            raise PluginError(
                f"the {what} {name!r} is registered by both plugin {taken[name].plugin_name!r} "
                f"and plugin {plugin!r}; uninstall or block one of them"
            )
        return name

    def _storage_register(self, plugin_name: str) -> Callable[..., None]:
        plugin = self.plugin_manager.get_plugin(plugin_name)

        def register(
            name: str,
            factory: StorageBackendFactory,
            *,
            description: str = "",
            requires: Sequence[str] = (),
            extra: str | None = None,
            settings: Sequence[Setting] | None = None,
        ) -> None:
            self._check_name("storage backend", name, self._backends, plugin_name)
            if not callable(factory):
                raise PluginError(
                    f"plugin {plugin_name!r} registered storage backend {name!r} with a "
                    f"factory that is not callable: {factory!r}"
                )
            if isinstance(requires, str):  # ("office365") without the comma
                requires = (requires,)
            for module in requires:
                if not isinstance(module, str) or not _MODULE.fullmatch(module):
                    raise PluginError(
                        f"plugin {plugin_name!r}: storage backend {name!r} requires "
                        f"{module!r}, which is not a module name"
                    )
            declared = _declared(plugin_name, "storage backend", name, settings)
            self._backends[name] = _Backend(
                name, factory, str(description), tuple(requires), extra, plugin_name, plugin,
                declared, _accepts_name(factory),
            )  # fmt: skip

        return register

    def _scanner_register(self, plugin_name: str) -> Callable[..., None]:
        def register(name: str, scanner: Scanner) -> None:
            self._check_name("scanner", name, self._scanners, plugin_name)
            if not isinstance(scanner, Scanner):
                raise PluginError(
                    f"plugin {plugin_name!r} registered scanner {name!r} as {scanner!r}, "
                    "which has no start() method and name attribute (see Scanner)"
                )
            self._scanners[name] = _Named(name, scanner, "", plugin_name)

        return register

    def _channel_register(self, plugin_name: str) -> Callable[..., None]:
        def register(
            name: str,
            factory: NotificationChannelFactory,
            *,
            description: str = "",
            settings: Sequence[Setting] | None = None,
        ) -> None:
            self._check_name("notification channel", name, self._channels, plugin_name)
            if not callable(factory):
                raise PluginError(
                    f"plugin {plugin_name!r} registered notification channel {name!r} with "
                    f"a factory that is not callable: {factory!r}"
                )
            declared = _declared(plugin_name, "notification channel", name, settings)
            self._channels[name] = _Named(
                name, factory, str(description), plugin_name, declared, _accepts_name(factory)
            )

        return register

    # --- distributions --------------------------------------------------------------------

    def _distributions(self) -> dict[int, tuple[str, str]]:
        """``id(plugin) → (distribution, version)`` for plugins loaded from entry points."""
        return {
            id(plugin): (dist.project_name, dist.version)
            for plugin, dist in self.plugin_manager.list_plugin_distinfo()
        }

    def _distribution_of(self, plugin: object) -> str | None:
        known = self._distributions().get(id(plugin))
        if known:
            return known[0]
        # An explicitly registered plugin: find the distribution of its top-level package.
        top = _module_of(plugin).split(".", 1)[0]
        dists = importlib.metadata.packages_distributions().get(top, [])
        return dists[0] if dists else None

    def _install_hint(self, backend: _Backend) -> str | None:
        if not backend.extra:
            return None
        dist = self._distribution_of(backend.plugin) or _OWN_DISTRIBUTION
        return f"{dist}[{backend.extra}]"

    # --- storage backends -----------------------------------------------------------------

    def storage_backend_names(self) -> list[str]:
        """The registered storage backend names, sorted."""
        return sorted(self._backends)

    def storage_backends(self) -> list[StorageBackendInfo]:
        """Every registered storage backend, sorted by name, with what it is missing."""
        infos = []
        for backend in sorted(self._backends.values(), key=lambda b: b.name):
            missing = _missing_modules(backend.requires)
            infos.append(
                StorageBackendInfo(
                    name=backend.name,
                    plugin=backend.plugin_name,
                    description=backend.description,
                    requires=backend.requires,
                    extra=backend.extra,
                    missing=tuple(missing),
                    install=self._install_hint(backend) if missing else None,
                    secrets=tuple(sorted(secret_keys(backend.settings or ()))),
                )
            )
        return infos

    def storage_backend_settings(self, name: str) -> tuple[Setting, ...] | None:
        """The settings backend ``name`` declared (``None``: it declared none).

        :raises UnknownBackend: no plugin registered ``name``.
        """
        backend = self._backends.get(name)
        if backend is None:
            raise UnknownBackend(name, list(self._backends))
        return backend.settings

    def notification_channel_settings(self, name: str) -> tuple[Setting, ...] | None:
        """The settings channel ``name`` declared (``None``: it declared none).

        :raises UnknownChannel: no plugin registered ``name``.
        """
        entry = self._channels.get(name)
        if entry is None:
            raise UnknownChannel(name, list(self._channels))
        return entry.settings

    def secret_keys(self, kind: str, name: str) -> frozenset[str]:
        """The keys of ``kind`` (``"storage"`` or ``"channels"``) ``name``'s table that are
        declared secret, to pass to :func:`redact` (empty when nothing is declared)."""
        table = self._backends if kind == "storage" else self._channels
        entry = table.get(name)
        return secret_keys(entry.settings or ()) if entry is not None else frozenset()

    def storage_backend(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        configured_as: str | None = None,
    ) -> StorageBackend:
        """Build the storage backend ``name`` with ``config``.

        The configuration is checked against the settings the backend declared (see
        :mod:`grc_core.plugins.settings`) before its factory is called; a factory that takes
        a ``name`` keyword receives ``configured_as`` (default ``name``): the table it was
        configured in, ``archive`` for ``[grc.storage.archive]`` with ``type = "local"``, so
        that its messages can say which of two copies is misconfigured.

        :raises UnknownBackend: (also a :class:`LookupError`) no plugin registered ``name``;
            the message lists the registered names.
        :raises BackendNotInstalled: (also an :class:`ImportError`) a module the backend
            requires is missing; the message names the pip extra to install.
        :raises ConfigError: (or any :class:`GrcError` the factory raises) the configuration
            is wrong.
        :raises PluginError: the factory failed otherwise, or built something that is not a
            :class:`StorageBackend`.  Messages never contain secret configuration values.
        """
        backend = self._backends.get(name)
        if backend is None:
            raise UnknownBackend(name, list(self._backends))
        missing = _missing_modules(backend.requires)
        if missing:
            raise BackendNotInstalled(name, missing, self._install_hint(backend))
        label = configured_as or name
        owner = f"the {label!r} storage backend" + (f" (type {name})" if label != name else "")
        settings = check_settings(owner, backend.settings, config or {})
        declared_secrets = secret_keys(backend.settings or ())
        secrets = _secret_values(settings, declared_secrets)
        failure: GrcError | None = None
        cause: BaseException | None = None
        try:
            if backend.wants_name:
                instance = backend.factory(MappingProxyType(settings), name=label)  # type: ignore[call-arg]
            else:
                instance = backend.factory(MappingProxyType(settings))
        except GrcError as exc:
            message = str(exc)
            if not any(secret in message for secret in secrets):
                raise
            failure = PluginError(f"the {name!r} storage backend: {_scrub(message, secrets)}")
        except ModuleNotFoundError as exc:
            # A plugin that imports its client in the factory without declaring ``requires``
            # still gets the install hint.
            failure = BackendNotInstalled(name, [exc.name or str(exc)], self._install_hint(backend))
            cause = exc
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            leaked = any(secret in message for secret in secrets)
            failure = PluginError(
                f"the {name!r} storage backend could not be created with "
                f"{redact(settings, declared_secrets)}: {_scrub(message, secrets)}"
            )
            cause = None if leaked else exc
        if failure is not None:
            # Raised outside the ``except`` block, so that an exception whose text holds a
            # secret is not chained (and printed) as the context of this one.
            if cause is not None:
                raise failure from cause
            raise failure
        if not isinstance(instance, StorageBackend):
            raise PluginError(
                f"the factory of storage backend {name!r} (plugin {backend.plugin_name!r}) "
                f"returned {type(instance).__name__}, which lacks the StorageBackend methods "
                "(name, put, open, stat, delete, iter_blobs, close)"
            )
        return instance

    # --- scanners, channels, commands -----------------------------------------------------

    def scanners(self) -> list[Scanner]:
        """The registered scanners, in registration order."""
        return [entry.value for entry in self._scanners.values()]

    def notification_channel_names(self) -> list[str]:
        """The registered notification channel names, sorted."""
        return sorted(self._channels)

    def notification_channels(self) -> list[NotificationChannelInfo]:
        """Every registered notification channel, sorted by name."""
        return [
            NotificationChannelInfo(entry.name, entry.plugin_name, entry.description)
            for entry in sorted(self._channels.values(), key=lambda e: e.name)
        ]

    def notification_channel(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> NotificationChannel:
        """Build the notification channel ``name`` with ``config`` (its
        ``[grc.channels.<name>]`` table, :meth:`grc_core.config.Settings.channel_config`).

        The configuration is checked against the settings the channel declared first; a
        factory that takes a ``name`` keyword receives ``name``.

        :raises UnknownChannel: (also a :class:`LookupError`) no plugin registered ``name``;
            the message lists the registered names.
        :raises ConfigError: (or any :class:`GrcError` the factory raises) the configuration
            is wrong.
        :raises PluginError: the factory failed otherwise, or built something that is not a
            :class:`~grc_core.notify.channels.NotificationChannel`.  Messages never contain
            secret configuration values.
        """
        entry = self._channels.get(name)
        if entry is None:
            raise UnknownChannel(name, list(self._channels))
        settings = check_settings(f"the {name!r} channel", entry.settings, config or {})
        declared_secrets = secret_keys(entry.settings or ())
        secrets = _secret_values(settings, declared_secrets)
        failure: GrcError | None = None
        cause: BaseException | None = None
        try:
            if entry.wants_name:
                instance = entry.value(MappingProxyType(settings), name=name)
            else:
                instance = entry.value(MappingProxyType(settings))
        except GrcError as exc:
            message = str(exc)
            if not any(secret in message for secret in secrets):
                raise
            failure = PluginError(f"the {name!r} channel: {_scrub(message, secrets)}")
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            leaked = any(secret in message for secret in secrets)
            failure = PluginError(
                f"the {name!r} notification channel could not be created with "
                f"{redact(settings, declared_secrets)}: {_scrub(message, secrets)}"
            )
            cause = None if leaked else exc
        if failure is not None:
            # Outside the ``except`` block, so that a secret is not chained along (as for
            # storage backends).
            if cause is not None:
                raise failure from cause
            raise failure
        if not isinstance(instance, NotificationChannel):
            raise PluginError(
                f"the factory of notification channel {name!r} (plugin {entry.plugin_name!r}) "
                f"returned {type(instance).__name__}, which lacks the NotificationChannel "
                "members (name, send, close)"
            )
        return instance

    def add_commands(self, cli: click.Group) -> None:
        """Let every plugin add its commands to ``cli`` (the ``grc`` group)."""
        self._call_per_plugin("grc_register_commands", lambda _name: {"cli": cli})

    def _commands_of(self, plugin: object) -> tuple[str, ...]:
        # Asking a throw-away group is the only way to know which commands a plugin adds.
        others = [p for _, p in self._plugins() if p is not plugin]
        caller = self.plugin_manager.subset_hook_caller("grc_register_commands", others)
        group = click.Group("grc")
        caller(cli=group)
        return tuple(sorted(group.commands))

    # --- description ----------------------------------------------------------------------

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin, its distribution and version, and what it provides.

        Holds no configuration, so no secret can appear in it.
        """
        dists = self._distributions()
        infos = []
        for name, plugin in self._plugins():
            dist, version = dists.get(id(plugin), (None, None))
            infos.append(
                PluginInfo(
                    name=name,
                    module=_module_of(plugin),
                    distribution=dist,
                    version=version,
                    storage_backends=tuple(
                        sorted(b.name for b in self._backends.values() if b.plugin_name == name)
                    ),
                    scanners=tuple(
                        sorted(s.name for s in self._scanners.values() if s.plugin_name == name)
                    ),
                    notification_channels=tuple(
                        sorted(c.name for c in self._channels.values() if c.plugin_name == name)
                    ),
                    commands=self._commands_of(plugin),
                )
            )
        return sorted(infos, key=lambda info: info.name)
