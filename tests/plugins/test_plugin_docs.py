"""The plugin guides: their Python examples run, and included files exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USING = ROOT / "docs" / "plugins" / "using-plugins.md"
WRITING = ROOT / "docs" / "plugins" / "writing-a-storage-plugin.md"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(python_blocks(USING))))
def test_using_plugins_examples_run(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run where relative paths in the examples (the "grc-blobs" root) land in a temporary
    # folder; the examples may print.
    monkeypatch.chdir(tmp_path)
    source = python_blocks(USING)[index]
    exec(compile(source, f"<{USING.name} block {index}>", "exec"), {"__name__": "docs_example"})


def test_the_local_example_stored_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [block] = [b for b in python_blocks(USING) if "backend.put(" in b]
    exec(compile(block, str(USING), "exec"), {})
    stored = [p for p in (tmp_path / "grc-blobs").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes().startswith(b"%PDF-1.7")


def test_writing_a_plugin_shows_files_that_exist() -> None:
    """The guide shows the example's files inline (see test_guides_show_the_code), each
    named by its path in examples/storage-plugin-example."""
    shown = re.findall(r"^`([\w./-]+)`:\n\n```", WRITING.read_text(), flags=re.M)
    assert len(shown) >= 4
    example = ROOT / "examples" / "storage-plugin-example"
    for path in shown:
        assert (example / path).is_file(), path
        assert os.path.commonpath([example / path, ROOT / "examples"]) == str(ROOT / "examples")
