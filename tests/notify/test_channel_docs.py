"""The example channel of docs/plugins/writing-a-channel.md, as the page shows it, registers
its channel and builds it from a checked configuration.  (The page's files written out pass
the channel contract: tests/plugins/test_plugin_from_the_docs.py.)"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from grc_core.errors import ConfigError
from grc_core.plugins import Registry

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "writing-a-channel.md"
SHOWN = dict(re.findall(r"^`([\w./-]+)`:\n\n```\w*\n(.*?)\n```$", PAGE.read_text(), re.M | re.S))


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[ModuleType]:
    """The page's package, written out and imported under its own name."""
    for path, source in SHOWN.items():
        if path.startswith("src/"):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source + "\n")
    (tmp_path / "src" / "grc_example_channel" / "__init__.py").touch()
    saved = {n: m for n, m in sys.modules.items() if n.startswith("grc_example_channel")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        import grc_example_channel.plugin as module

        assert module.__file__ is not None and module.__file__.startswith(str(tmp_path))
        yield module
    finally:
        sys.path.remove(str(tmp_path / "src"))
        for name in [n for n in sys.modules if n.startswith("grc_example_channel")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_the_example_registers_its_channel(plugin: ModuleType) -> None:
    registry = Registry.load(autoload=False, plugins=[plugin])
    assert registry.notification_channel_names() == ["example-webhook"]
    channel = registry.notification_channel(
        "example-webhook", {"url": "http://127.0.0.1:9/x", "timeout": "2.5"}
    )
    assert channel.name == "example-webhook"
    assert channel.timeout == 2.5  # type: ignore[attr-defined]  # converted from text
    with pytest.raises(ConfigError, match="has no setting 'urll'"):
        registry.notification_channel("example-webhook", {"urll": "http://x"})
    with pytest.raises(ConfigError, match="missing setting"):
        registry.notification_channel("example-webhook", {})
