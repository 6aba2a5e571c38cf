"""A third-party plugin written from the documentation alone: every file the plugin guides
show is written out from the Markdown pages into an empty folder — nothing is copied from
``examples/`` — and the result passes GRC's contract suite there.

So the pages hold every name such a plugin needs (the hooks, ``Setting``, the storage and
channel types, the contract suites, the fixtures), and their code is complete and runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: A file shown on a page: a line "`path`:", a blank line, then a fenced block.
SHOWN = re.compile(r"^`([\w./-]+)`:\n\n```\w*\n(.*?)\n```$", re.M | re.S)
GUIDES = {
    "docs/plugins/writing-a-storage-plugin.md": ("grc_example_storage", 8),
    "docs/plugins/writing-a-channel.md": ("grc_example_channel", 8),
}


@pytest.mark.parametrize("page", sorted(GUIDES))
def test_the_plugin_written_from_the_page_passes_the_contract(page: str, tmp_path: Path) -> None:
    package, at_least = GUIDES[page]
    files = dict(SHOWN.findall((ROOT / page).read_text()))
    assert any(path.endswith("plugin.py") for path in files), sorted(files)
    for path, source in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source + "\n")
    # The one file a page need not show: the package marker.
    (tmp_path / "src" / package / "__init__.py").touch()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "tests"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))  # type: ignore[union-attr]
    assert passed >= at_least, result.stdout[-500:]
    # ...and the plugin that ran is the one written out, not an installed copy.
    where = subprocess.run(
        [sys.executable, "-c", f"import {package}.plugin as p; print(p.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(tmp_path)), where
