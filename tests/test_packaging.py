"""The distribution as users receive it: the wheel and sdist build, the wheel installs into a
clean virtual environment, and that installation runs ``grc demo``.

Built with ``python -m build --no-isolation`` (setuptools and build come with the test
extra), so the test needs no network.  The clean environment gets the wheel from pip
(``--no-deps``); its dependencies are the development environment's, reached through a
folder of links that leaves out every GRC package and plugin there, so everything named
``grc`` that runs comes from the wheel.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("grc_core", "grc_adapters", "grc_api", "grc_cli")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # setuptools warns about deprecated metadata (e.g. a licence table) in its output.
    assert "Deprecat" not in result.stdout + result.stderr
    return out


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_wheel_ships_types_migrations_and_spdx_licence(dist):
    with zipfile.ZipFile(_one(dist, "grc_exchanges-*-py3-none-any.whl")) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    for package in PACKAGES:
        assert f"{package}/py.typed" in names, package
    assert "grc_core/migrations/versions/0001_initial.py" in names
    assert "grc_core/migrations/script.py.mako" in names
    text = metadata.decode()
    assert "License-Expression: LicenseRef-Proprietary" in text
    assert "Provides-Extra: postgresql" in text
    assert not any(n.startswith("tests/") for n in names)


def test_the_sdist_holds_the_sources_and_the_build_configuration(dist):
    with tarfile.open(_one(dist, "grc_exchanges-*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "src/grc_core/py.typed"} <= names
    assert "src/grc_core/storage/__init__.py" in names


def _clean_env(tmp: Path, wheel: Path) -> Path:
    """A virtual environment holding the wheel; its dependencies from this environment."""
    target = tmp / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(target)
    python = target / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    deps = tmp / "dependencies"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.startswith(("grc", "__editable__", "__pycache__")) or entry.suffix == ".pth":
            continue  # GRC itself (editable) and plugins for it: only the wheel's GRC runs
        (deps / entry.name).symlink_to(entry)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "grc-dependencies.pth").write_text(f"{deps}\n")
    return target


def test_the_installed_wheel_runs_the_demo(dist, tmp_path):
    env = _clean_env(tmp_path, _one(dist, "grc_exchanges-*-py3-none-any.whl"))
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1", "LANG": "C.UTF-8"}
    where = subprocess.run(
        [str(env / "bin" / "python"), "-c",
         "import grc_core, importlib.metadata as m; print(grc_core.__file__);"
         " print(m.distribution('grc-exchanges').locate_file(''))"],
        capture_output=True, text=True, env=clean, check=True,
    ).stdout  # fmt: skip
    assert all(line.startswith(str(env)) for line in where.splitlines()), where
    folder = tmp_path / "demo"
    result = subprocess.run(
        [str(env / "bin" / "grc"), "demo", "--dir", str(folder)],
        capture_output=True, text=True, env=clean, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Boulangeries Martin SA" in result.stdout
    assert (folder / "grc-demo.sqlite3").is_file()
    assert "[9/9]" in result.stderr
