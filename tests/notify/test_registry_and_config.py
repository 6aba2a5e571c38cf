"""Channels in the registry (entry points, factories, secrets) and in the settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from grc_core.config import load_settings
from grc_core.errors import ConfigError, PluginError
from grc_core.notify.channels import (
    ChannelSettings,
    NotificationChannel,
    Recipient,
    UnknownChannel,
    message_id_for,
)
from grc_core.plugins import Registry, hookimpl

BUILT_IN = ["email", "inbox", "push", "report", "sms", "task"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def test_the_five_channels_are_found_through_entry_points(registry: Registry) -> None:
    assert set(BUILT_IN) <= set(registry.notification_channel_names())
    infos = {info.name: info for info in registry.notification_channels()}
    assert infos["email"].plugin == "email"
    assert infos["sms"].description == "text messages through an HTTP SMS gateway"
    described = {p.name: p.notification_channels for p in registry.describe()}
    for name in BUILT_IN:
        assert described[name] == (name,)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("email", {"mailbox": "/tmp/grc-test.mbox"}),
        ("sms", {"url": "http://127.0.0.1:9/send"}),
        ("inbox", {}),
        ("task", {}),
        ("report", {"mailbox": "/tmp/grc-test.mbox"}),
    ],
)
def test_each_built_in_channel_is_built_by_name(
    registry: Registry, name: str, config: dict[str, Any]
) -> None:
    channel = registry.notification_channel(name, config)
    assert isinstance(channel, NotificationChannel)
    assert channel.name == name
    channel.close()


def test_an_unknown_channel_lists_the_known_ones(registry: Registry) -> None:
    with pytest.raises(UnknownChannel) as caught:
        registry.notification_channel("pigeon", {})
    assert isinstance(caught.value, LookupError)
    assert str(caught.value).startswith("no notification channel is named 'pigeon'; available: ")
    assert "email, inbox, push, report, sms, task" in str(caught.value)


def test_a_configuration_error_passes_through_without_the_secret(registry: Registry) -> None:
    config = {
        "host": "smtp.example.com",
        "from_address": "g@example.com",
        "username": "grc",
        "password": "hunter2",
    }
    with pytest.raises(ConfigError) as caught:
        registry.notification_channel("email", config)
    assert "hunter2" not in str(caught.value)


class _Leaky:
    """A plugin whose factories misbehave."""

    @hookimpl
    def grc_register_notification_channels(self, register: Any) -> None:
        def leaks(config: Mapping[str, Any]) -> Any:
            raise RuntimeError(f"login failed with {config['api_token']}")

        def wrong(config: Mapping[str, Any]) -> Any:
            return object()

        def config_leak(config: Mapping[str, Any]) -> Any:
            raise ConfigError(f"bad token {config['api_token']}")

        register("leaks", leaks)
        register("wrong", wrong)
        register("config-leak", config_leak)


def test_factory_failures_never_show_secrets() -> None:
    registry = Registry.load(autoload=False, plugins=[_Leaky()])
    with pytest.raises(PluginError) as caught:
        registry.notification_channel("leaks", {"api_token": "s3cr3t", "url": "https://x"})
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert message == (
        "the 'leaks' notification channel could not be created with "
        "{'api_token': '***', 'url': 'https://x'}: RuntimeError: login failed with ***"
    )
    assert caught.value.__cause__ is None  # the original text, secret included, is not chained
    with pytest.raises(PluginError, match=r"^the 'config-leak' channel: bad token \*\*\*$"):
        registry.notification_channel("config-leak", {"api_token": "s3cr3t"})


def test_a_factory_must_build_a_channel() -> None:
    registry = Registry.load(autoload=False, plugins=[_Leaky()])
    with pytest.raises(PluginError, match="returned object, which lacks the NotificationChannel"):
        registry.notification_channel("wrong", {})


# --- settings ------------------------------------------------------------------------------------


def test_channel_tables_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "grc.toml"
    cfg.write_text(
        "[grc.channels.email]\n"
        'host = "smtp.example.com"\nport = 587\ntls = "starttls"\n'
        "[grc.channels.my-sms]\n"
        'url = "https://sms.example.com/send"\n'
    )
    settings = load_settings(
        cfg,
        environ={
            "GRC_CHANNEL__EMAIL__PASSWORD": "from-env",
            "GRC_CHANNEL__MY_SMS__AUTH_SECRET": "Bearer x",
            "GRC_CHANNEL__EMAIL__PORT": "2525",
        },
    )
    assert settings.channel_config("email") == {
        "host": "smtp.example.com",
        "port": "2525",  # the environment wins, as a string
        "tls": "starttls",
        "password": "from-env",
    }
    assert settings.channel_config("my-sms") == {
        "url": "https://sms.example.com/send",
        "auth_secret": "Bearer x",
    }
    assert settings.channel_config("inbox") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[grc]\nchannels = 3\n", "[grc.channels] must hold one table per channel"),
        ("[grc.channels]\nemail = 3\n", "[grc.channels.email] must be a table"),
        ("[grc.channels.email]\nport = [1]\n", "channels.email.port must be a string, number"),
    ],
)
def test_bad_channel_tables(tmp_path: Path, content: str, message: str) -> None:
    cfg = tmp_path / "grc.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(cfg, environ={})


def test_a_malformed_channel_variable() -> None:
    with pytest.raises(ConfigError, match="should be named GRC_CHANNEL__<CHANNEL>__<KEY>"):
        load_settings(environ={"GRC_CHANNEL__EMAIL": "x", "GRC_CONFIG": ""})


def test_the_channel_settings_are_not_scalar_settings() -> None:
    from grc_core.config import ENV_VARS

    assert "channels" not in ENV_VARS and "storage" not in ENV_VARS


# --- small pieces of the protocol ----------------------------------------------------------------


def test_message_id_for() -> None:
    assert message_id_for(42) == "<grc-delivery-42@grc.invalid>"
    assert message_id_for(42, "example.com") == "<grc-delivery-42@example.com>"


def test_recipient_from_user(world) -> None:
    recipient = Recipient.from_user(world.alice, timezone="Asia/Tokyo")
    assert recipient == Recipient(
        world.alice.id, "alice", "Alice", world.alice.email, world.alice.phone, "Asia/Tokyo"
    )


def test_channel_settings_reads_typed_values_from_toml_or_text() -> None:
    read = ChannelSettings(
        "demo",
        {"n": "3", "x": 2.5, "flag": "yes", "mode": "FAST", "name": "  "},
        ("n", "x", "flag", "mode", "name", "absent"),
    )
    assert read.integer("n", 0) == 3
    assert read.number("x", 0) == 2.5
    assert read.boolean("flag", False) is True
    assert read.choice("mode", "slow", ("slow", "fast")) == "fast"
    assert read.text("name", "default") == "default"  # blank counts as missing
    assert read.integer("absent", 7) == 7
    with pytest.raises(ConfigError, match=r"^the 'demo' channel needs the setting absent$"):
        read.text("absent", required=True)
    with pytest.raises(ConfigError, match=r"^the 'demo' channel's x must be an integer"):
        read.integer("x", 0)
    with pytest.raises(ConfigError, match=r"^the 'demo' channel has no setting 'other'"):
        ChannelSettings("demo", {"other": 1}, ("n",))
    with pytest.raises(ConfigError, match="must be a number from 0 to 10"):
        ChannelSettings("demo", {"x": "nan"}, ("x",)).number("x", 1, maximum=10)
