"""Command-line start-up: ``grc --help`` and ``grc exchange list --limit 20``.

Usage (see ``make bench-cli``)::

    .venv/bin/python benchmarks/cli_startup.py [--runs 20] [--instructions]

Each command runs once to fill the bytecode cache, then ``--runs`` times as a fresh process
on a small SQLite database (the demo data); the floor is the interpreter itself starting and
exiting (``python -c pass``).  The table gives p50/p95 wall time, the p50 of the CPU time
the process used (user + system: on a machine busy with other work, wall time mostly
measures the wait for a core, CPU time what the command itself costs), the floor's p50 and
the goal (``--help`` ≤ 0.25 s, ``exchange list`` ≤ 0.4 s on the reference 2-core machine).
With a plugin from another distribution installed (the example plugin of the test extra is
one), ``--help`` loads the plugins to list their commands: that case is measured too.

``--instructions`` counts instead the instructions ``grc exchange list --limit 20`` executes
under Valgrind's callgrind (``PYTHONHASHSEED=0``, the bytecode cache filled first): a figure
that does not depend on what else runs on the machine, to compare two versions of the code
when others are measuring too (about 20 s).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """p50 and p95 wall time, p50 CPU time (of the child process), in seconds."""
    seconds = []
    cpu = []
    subprocess.run(command, env=env, check=True, capture_output=True)  # fills the cache
    for _ in range(runs):
        began, used = time.perf_counter(), _children_cpu()
        subprocess.run(command, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - began)
        cpu.append(_children_cpu() - used)
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
    return statistics.median(seconds), p95, statistics.median(cpu)


#: The listing run in this process by the console script's entry point, as ``grc`` runs it
#: (plugins from other distributions are not looked up: their entry points vary).
_LISTING = (
    "import sys, grc_cli.main as m; m._other_plugins_installed = lambda: False; "
    "sys.argv = ['grc', '--as', 'admin', 'exchange', 'list', '--limit', '20']; m.main()"
)


def instructions(env: dict[str, str]) -> int:
    """The instructions a listing executes, counted by callgrind."""
    command = [sys.executable, "-c", _LISTING]
    env = {**env, "PYTHONHASHSEED": "0"}
    subprocess.run(command, env=env, check=True, capture_output=True)  # fills the cache
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/cg.out", *command],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in callgrind's output:\n{done.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the instructions of grc exchange list --limit 20 (callgrind) instead",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="grc-bench-cli-"))
    (folder / "grc.toml").write_text("")
    env = {
        **os.environ,
        "GRC_DATABASE_URL": f"sqlite:///{folder / 'demo' / 'grc-demo.sqlite3'}",
        "GRC_CONFIG": str(folder / "grc.toml"),
        "GRC_STORAGE__LOCAL__ROOT": str(folder / "blobs"),
        # Compiled bytecode is reused from run to run, as from an installed package: with
        # PYTHONDONTWRITEBYTECODE set (and a source tree without __pycache__) every run would
        # compile the library again.  The cache lives in the temporary folder.
        "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    grc = str(BIN / "grc")
    subprocess.run(
        [grc, "demo", "--dir", str(folder / "demo")], env=env, check=True, capture_output=True
    )
    if args.instructions:
        count = instructions(env)
        print(f"grc exchange list --limit 20: {count:,} instructions")
        return
    login = "admin"
    no_plugins = (
        "import sys, grc_cli.main as m; m._other_plugins_installed = lambda: False; "
        "sys.argv = ['grc', '--help']; m.main()"
    )
    cases = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
        ("grc --help", [sys.executable, "-c", no_plugins], 0.25),
        ("grc --help (other plugins)", [grc, "--help"], None),
        ("grc --version", [grc, "--version"], None),
        ("grc exchange list --limit 20", [grc, "--as", login, "exchange", "list", "--limit",
                                          "20"], 0.4),
    ]  # fmt: skip
    rows = [(name, *timed(command, env, args.runs), goal) for name, command, goal in cases]
    floor = rows[0][1]
    load = os.getloadavg()
    print(f"CLI start-up, {args.runs} runs each; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'command':32} {'p50 s':>7} {'p95 s':>7} {'CPU s':>7} {'× floor':>8} {'goal s':>7}")
    for name, p50, p95, cpu, goal in rows:
        goal_text = f"{goal:.2f}" if goal else "-"
        print(f"{name:32} {p50:>7.3f} {p95:>7.3f} {cpu:>7.3f} {p50 / floor:>8.1f} {goal_text:>7}")


if __name__ == "__main__":
    main()
