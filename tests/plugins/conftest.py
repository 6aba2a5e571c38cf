"""Helpers for plugin tests: installed-looking distributions made on the fly."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., str]]:
    """Make a distribution with a ``grc`` entry point visible to importlib.metadata.

    ``fake_distribution(source, entry_name=…, dist_name=…, version=…)`` writes a module with
    ``source`` and a ``*.dist-info`` declaring it, puts the folder on ``sys.path``, and
    returns the module name.  Everything is undone after the test.
    """
    made: list[str] = []

    def make(
        source: str,
        *,
        entry_name: str = "fake",
        dist_name: str = "fake-grc-plugin",
        version: str = "1.2.3",
        module: str | None = None,
    ) -> str:
        module = module or f"fake_grc_plugin_{uuid.uuid4().hex[:8]}"
        site = tmp_path / f"site-{uuid.uuid4().hex[:8]}"
        site.mkdir()
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[grc]\n{entry_name} = {module}\n")
        monkeypatch.syspath_prepend(str(site))
        made.append(module)
        return module

    yield make
    for module in made:
        sys.modules.pop(module, None)
