"""The example notification channel (examples/channel-plugin-example) passes GRC's channel
contract suite: its own tests run, from its sources, as an integrator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "channel-plugin-example"


def test_the_example_channel_passes_the_contract_suite() -> None:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=EXAMPLE,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
