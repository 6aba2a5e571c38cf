"""Honest configuration: declared settings, unknown tables and keys, secrets from files,
environment names with dashes, the configured name given to a factory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from grc_core.backends import Backends, check_configuration
from grc_core.config import Settings, load_settings
from grc_core.errors import ConfigError, PluginError
from grc_core.plugins import Registry, Setting, hookimpl, redact
from grc_core.plugins.settings import check_settings, declare
from grc_core.storage.backend import BlobInfo


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grc.toml"
    path.write_text(
        '[grc]\ndatabase_url = "sqlite:///' + str(tmp_path / "g.sqlite3") + '"\n' + text
    )
    return path


def test_a_typo_in_a_backend_table_is_an_error_listing_the_keys(tmp_path, registry):
    settings = load_settings(write(tmp_path, '[grc.storage.local]\nrooot = "/srv/blobs"\n'))
    with pytest.raises(
        ConfigError,
        match=r"\[grc.storage.local\]: the 'local' storage backend has no setting 'rooot'",
    ) as e:
        check_configuration(settings, registry)
    assert "accepted: root, temp_grace_seconds" in str(e.value)
    with pytest.raises(ConfigError, match="rooot"):
        Backends.from_settings(registry, settings)


def test_an_unknown_channel_or_backend_table_is_an_error(tmp_path, registry):
    settings = load_settings(write(tmp_path, '[grc.channels.emial]\nhost = "smtp"\n'))
    with pytest.raises(ConfigError, match=r"\[grc.channels.emial\].*installed: email, inbox"):
        check_configuration(settings, registry)
    settings = load_settings(write(tmp_path, '[grc.storage.archive]\nroot = "/srv"\n'))
    with pytest.raises(ConfigError, match=r'archive.*installed: .*local.*type = "<backend>"'):
        check_configuration(settings, registry)
    settings = load_settings(write(tmp_path, '[grc.channels.email]\nhots = "smtp"\n'))
    with pytest.raises(
        ConfigError, match=r"'hots'; accepted: .*from_address, host, .*password_file"
    ):
        check_configuration(settings, registry)


def test_keys_outside_the_grc_table_are_refused(tmp_path):
    path = tmp_path / "grc.toml"
    path.write_text('language = "en"\n[grc]\ntimezone = "UTC"\n')
    with pytest.raises(ConfigError, match="language outside the \\[grc\\] table"):
        load_settings(path)


def test_a_dashed_name_in_the_environment_sets_its_table_without_a_phantom(tmp_path, registry):
    path = write(tmp_path, '[grc.storage.nextcloud-archive]\ntype = "local"\nroot = "/srv/na"\n')
    env = {
        "GRC_STORAGE__NEXTCLOUD_ARCHIVE__TEMP_GRACE_SECONDS": "60",
        "GRC_CHANNEL__EMAIL__HOST": "smtp.example.com",
    }
    settings = load_settings(path, environ=env)
    assert sorted(settings.storage) == ["nextcloud-archive"]
    assert settings.backend_config("nextcloud-archive") == {
        "type": "local",
        "root": "/srv/na",
        "temp_grace_seconds": "60",
    }
    check_configuration(settings, registry)
    # Without a table in the file, the environment's own name is the table.
    only_env = load_settings(write(tmp_path, ""), environ={"GRC_STORAGE__MY_GED__URL": "u"})
    assert only_env.storage == {"my_ged": {"url": "u"}}
    assert only_env.backend_config("my-ged") == {"url": "u"}


def test_values_are_converted_to_the_declared_types():
    declared = [Setting("port", int), Setting("tls", bool), Setting("ratio", float)]
    checked = check_settings("[x]", declared, {"port": "587", "tls": "yes", "ratio": 2})
    assert checked == {"port": 587, "tls": True, "ratio": 2.0}
    with pytest.raises(ConfigError, match="port must be an integer, got 'five'"):
        check_settings("[x]", declared, {"port": "five"})
    with pytest.raises(ConfigError, match="missing setting"):
        check_settings("[x]", [Setting("url", required=True)], {})


def test_a_secret_is_read_from_its_file_and_never_shown(tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("correct horse\n")
    declared = [Setting("user"), Setting("password", secret=True)]
    checked = check_settings("[x]", declared, {"user": "grc", "password_file": str(secret)})
    assert checked == {"user": "grc", "password": "correct horse"}
    with pytest.raises(ConfigError, match="not both"):
        check_settings("[x]", declared, {"password": "a", "password_file": str(secret)})
    with pytest.raises(ConfigError, match="cannot read password_file") as e:
        check_settings("[x]", declared, {"password_file": str(tmp_path / "missing")})
    assert "correct horse" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        check_settings("[x]", [Setting("port", int, secret=True)], {"port": "hunter2"})
    assert "hunter2" not in str(e.value)


def test_declared_secrets_are_hidden_whatever_their_name(registry):
    url = "https://sms.example.com/send?key=abcdef"
    assert "url" in registry.secret_keys("channels", "sms")
    assert redact({"url": url}, registry.secret_keys("channels", "sms")) == {"url": "***"}
    assert redact({"url": url}) == {"url": url}  # the name alone says nothing


class _Blobless:
    """Just enough of a backend for a factory test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def put(self, key: str, stream: Any, **kwargs: Any) -> str:
        return key

    def open(self, key: str) -> Any:
        raise NotImplementedError

    def stat(self, key: str) -> BlobInfo:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        pass

    def iter_blobs(self) -> Iterator[BlobInfo]:
        return iter(())

    def close(self) -> None:
        pass


class NamedPlugin:
    """A third-party plugin whose factory wants its configured name."""

    @hookimpl
    def grc_register_storage_backends(self, register: Any) -> None:
        def make(config: Mapping[str, Any], *, name: str = "named") -> _Blobless:
            if not config.get("url"):
                raise ConfigError(f"[grc.storage.{name}] needs url")
            return _Blobless(name)

        register("named", make, settings=declare(("url", "token"), secrets=("token",)))


def test_a_factory_is_told_its_configured_name():
    registry = Registry.load(autoload=False, plugins=[NamedPlugin()])
    settings = Settings(
        database_url="sqlite://",
        storage_backend="first",
        storage={
            "first": {"type": "named", "url": "https://a"},
            "second": {"type": "named", "token": "t0ken"},
        },
    )
    backends = Backends.from_settings(registry, settings)
    assert backends.get("first").name == "first"
    with pytest.raises(ConfigError, match=r"\[grc.storage.second\] needs url"):
        backends.get("second")


def test_settings_must_be_setting_objects():
    class Bad:
        @hookimpl
        def grc_register_storage_backends(self, register: Any) -> None:
            register("bad", lambda config: None, settings=["url"])

    with pytest.raises(PluginError, match=r"must be a list of grc_core\.plugins\.Setting"):
        Registry.load(autoload=False, plugins=[Bad()])


def test_a_backend_configured_by_the_environment_alone_keeps_its_dashed_name(tmp_path, registry):
    env = {"GRC_STORAGE__EXAMPLE_MEMORY__MAX_BYTES": "1024", "GRC_STORAGE_BACKEND": ""}
    settings = load_settings(write(tmp_path, 'storage_backend = "example-memory"\n'), environ=env)
    assert list(settings.storage) == ["example-memory"]  # one backend, under its name
    check_configuration(settings, registry)
    backend = Backends.from_settings(registry, settings).default
    assert backend.max_bytes == 1024  # type: ignore[attr-defined]
    env["GRC_STORAGE__EXAMPLE_MEMORY__MAX_BYTS"] = "1"
    with pytest.raises(ConfigError, match="has no setting 'max_byts'; accepted: max_bytes"):
        check_configuration(load_settings(write(tmp_path, ""), environ=env), registry)


class EndpointPlugin:
    """A backend whose endpoint URL carries its access key."""

    @hookimpl
    def grc_register_storage_backends(self, register: Any) -> None:
        register(
            "keyed",
            lambda config: _Blobless("keyed"),
            settings=declare(("endpoint",), secrets=("endpoint",)),
        )


def test_storage_backends_hides_what_a_backend_declares_secret():
    from grc_cli.output import backends_data

    registry = Registry.load(autoload=False, plugins=[EndpointPlugin()])
    settings = Settings(
        database_url="sqlite://",
        storage={"ged": {"type": "keyed", "endpoint": "https://ged.example/?key=abc123"}},
    )
    data = backends_data(registry.storage_backends(), settings)
    [ged] = [c for c in data["configured"] if c["name"] == "ged"]
    assert ged["config"] == {"endpoint": "***"}
    assert "abc123" not in repr(data)
