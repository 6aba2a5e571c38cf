"""``examples/notifications_app.py``, shown by docs/notifications-python.md, runs on SQLite and
PostgreSQL and does what the page says."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "notifications_app.py"
PAGE = ROOT / "docs" / "notifications-python.md"


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("grc_example_notifications_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_example_notifies_the_follower_and_the_owner(app, fresh_url):
    report = app.main(fresh_url)
    assert report.dry_run_fires
    assert report.dry_run_recipients == ["alice"]
    assert report.stats.sent == 2 and report.stats.dead == 0
    assert report.inboxes["alice"] == ["Meeting with ACME: Yearly review"]
    assert report.inboxes["bob"] == ["[GRC] Nouvel échange — ACME : Yearly review"]
    # Run again on the same database: nothing new is recorded or sent.
    again = app.main(fresh_url)
    assert again.stats.sent == 0 and again.stats.events == 0
    assert again.inboxes == report.inboxes


def test_the_page_shows_every_section_of_the_example():
    source = EXAMPLE.read_text(encoding="utf-8")
    sections = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    shown = set(re.findall(r'--8<-- "examples/notifications_app.py:([\w-]+)"', PAGE.read_text()))
    assert sections == shown == {"setup", "rule", "record", "dry-run", "worker", "inbox"}
    assert '--8<-- "examples/notifications_app.py"\n' in PAGE.read_text()
