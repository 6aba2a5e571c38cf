"""The plugin guides show the example plugins' code in the Markdown itself (a reader of the
repository sees it, not only a reader of the built site), and it is the code the tests run.

Together with the examples' contract tests, this is what makes the guides sufficient: a
plugin written from the pages alone is the example plugin, which passes the contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOWN = [
    ("docs/plugins/writing-a-storage-plugin.md", "examples/storage-plugin-example", path)
    for path in (
        "src/grc_example_storage/backend.py",
        "src/grc_example_storage/plugin.py",
        "pyproject.toml",
        "tests/test_example_memory_contract.py",
    )
] + [
    ("docs/plugins/writing-a-channel.md", "examples/channel-plugin-example", path)
    for path in (
        "src/grc_example_channel/channel.py",
        "src/grc_example_channel/plugin.py",
        "pyproject.toml",
        "tests/test_example_webhook_contract.py",
    )
]


@pytest.mark.parametrize(("page", "example", "path"), SHOWN, ids=[s[2] for s in SHOWN])
def test_the_guide_shows_the_whole_file(page: str, example: str, path: str) -> None:
    text = (ROOT / page).read_text()
    source = (ROOT / example / path).read_text().rstrip("\n")
    assert "--8<--" not in text, f"{page} pulls code in with a directive: inline it"
    assert f"`{path}`:" in text, f"{page} does not name {path}"
    assert f"\n{source}\n```" in text, (
        f"{page} must show {example}/{path} whole and as it is (re-inline it after a change)"
    )
