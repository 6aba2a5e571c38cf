"""The example channel of docs/plugins/writing-a-channel.md runs, and passes the contract."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from grc_core.plugins import Registry

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "writing-a-channel.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
[PLUGIN_SOURCE] = [b for b in BLOCKS if "def grc_register_notification_channels" in b]
[TEST_SOURCE] = [b for b in BLOCKS if "class TestWebhookChannel" in b]


def _module(name: str, source: str, **namespace: object) -> ModuleType:
    module = ModuleType(name)
    module.__dict__.update(namespace)
    exec(compile(source, f"<{PAGE.name}: {name}>", "exec"), module.__dict__)
    return module


plugin = _module("docs_webhook_plugin", PLUGIN_SOURCE)
_tests = _module(
    "docs_webhook_tests", TEST_SOURCE, make_webhook_channel=plugin.make_webhook_channel
)

# Collected here: the page's contract test class, run against the local gateway.
TestWebhookChannel = _tests.TestWebhookChannel


def test_the_example_registers_its_channel() -> None:
    registry = Registry.load(autoload=False, plugins=[plugin])
    assert registry.notification_channel_names() == ["webhook"]
    channel = registry.notification_channel("webhook", {"url": "http://127.0.0.1:9/x"})
    assert channel.name == "webhook"
