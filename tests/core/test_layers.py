"""The indexes sit below the services: the services import them, never the reverse (at
module level or inside a function), so that neither sees the other half-initialised."""

from __future__ import annotations

import ast
from pathlib import Path

import grc_core

LOWER = ("indexing.py", "db_rows.py", "french_text.py")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_indexes_import_no_service() -> None:
    root = Path(grc_core.__file__).parent
    for name in LOWER:
        services = {m for m in imported_modules(root / name) if m.startswith("grc_core.services")}
        assert services == set(), (name, services)
    # ...and the services do use them (the direction of the dependency).
    assert "grc_core.indexing" in imported_modules(root / "services" / "exchanges.py")


def test_notification_messages_do_not_import_fanout() -> None:
    """Fan-out calls the messages; the messages only read the facts, which sit below both.
    An import of fan-out from the messages (even inside a function or for type checking)
    would bring the circle back."""
    notify = Path(grc_core.__file__).parent / "notify"
    assert "grc_core.notify.fanout" not in imported_modules(notify / "messages.py")
    below = {m for m in imported_modules(notify / "facts.py") if m.startswith("grc_core.notify")}
    assert below == set()
    # ...and the dependencies run downwards.
    assert "grc_core.notify.facts" in imported_modules(notify / "messages.py")
    fanout = imported_modules(notify / "fanout.py")
    assert {"grc_core.notify.facts", "grc_core.notify"} <= fanout


def test_templates_split_into_sandbox_and_merge_fields() -> None:
    """The sandbox knows nothing of records; the mail-merge fields sit above it; templates
    (the public entry point) sits above both and still offers every public name."""
    from grc_core.notify import merge_fields, sandbox, templates

    notify = Path(grc_core.__file__).parent / "notify"
    below = {m for m in imported_modules(notify / "sandbox.py") if m.startswith("grc_core.notify")}
    assert below == set()
    merge = {m for m in imported_modules(notify / "merge_fields.py") if m.startswith("grc_core")}
    assert merge <= {"grc_core.notify.sandbox", "grc_core.timeutil"}
    for name in templates.__all__:
        assert hasattr(templates, name), name
    assert templates.render is sandbox.render
    assert templates.merge_fields is merge_fields.merge_fields
