"""Shell completion, as docs/cli.md tells people to set it up: the script, and what it
completes (commands and options), without a database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GRC = Path(sys.executable).parent / "grc"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def complete(tmp_path: Path, words: str, **extra: str) -> list[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        # A database URL that cannot be opened: completion must not try.
        "GRC_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        **extra,
    }
    env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    env["_GRC_COMPLETE"] = env.get("_GRC_COMPLETE", "bash_complete")
    done = subprocess.run([str(GRC)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_completion_of_commands_and_options(tmp_path: Path):
    assert complete(tmp_path, "grc exch") == ["exchange"]
    assert "--wide" in complete(tmp_path, "grc exchange list --wi")
    assert {"company", "opportunity", "user", "global"} <= set(complete(tmp_path, "grc history "))


def test_the_documented_scripts_are_generated(tmp_path: Path):
    page = DOCS.read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_GRC_COMPLETE={shell}_source grc" in page
        env = {"PATH": os.environ.get("PATH", ""), "_GRC_COMPLETE": f"{shell}_source"}
        done = subprocess.run([str(GRC)], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "_GRC_COMPLETE" in done.stdout, (shell, done.stderr)
