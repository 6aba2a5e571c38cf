"""What ``grc exchange list`` loads, and how the console script handles the garbage collector.

Start-up is most of a short command's time (see benchmarks/cli_startup.py): these tests fail
when a module that listing exchanges does not need comes back on its import path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .runner import Grc, cli_env

#: Runs the console script's entry point in this process with the given arguments, then
#: prints what it imported and the garbage collector's state as the last line.
_PROBE = """
import gc, json, sys
import grc_cli.main as m
m._other_plugins_installed = lambda: False
if sys.argv[1] == "--gc-off":
    gc.disable()
    del sys.argv[1]
sys.argv = ["grc", *sys.argv[1:]]
try:
    m.main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({
    "exit": code,
    "modules": sorted(sys.modules),
    "gc_enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "deferred": sorted(n for n, m in sys.modules.items() if type(m).__name__ == "DeferredModule"),
}))
"""

#: Modules a listing of exchanges printed as a table has no use for.  Each was on its path
#: once: the JSON representation (and the history, search and notification modules it
#: imports), the exchange services (and the stemmers of company names), attachments and
#: file sniffing, the plugins and storage backends, the migration machinery, Rich's
#: progress bars and trees; the models of what an exchange does not refer to, the audit
#: trail (its model and service) and the services that check filter criteria.
NOT_FOR_A_LISTING = (
    "alembic",
    "grc_core.backends",
    "grc_core.french_text",
    "grc_core.models.api_token",
    "grc_core.models.attachment",
    "grc_core.models.device",
    "grc_core.models.event",
    "grc_core.models.installation",
    "grc_core.models.notification",
    "grc_core.models.timeline",
    "grc_core.notify",
    "grc_core.plugins",
    "grc_core.queries.history",
    "grc_core.queries.search",
    "grc_core.representation",
    "grc_core.schema",
    "grc_core.services.attachments",
    "grc_core.services.categories",
    "grc_core.services.companies",
    "grc_core.services.custom_fields",
    "grc_core.services.events",
    "grc_core.services.exchanges",
    "grc_core.services.picklists",
    "grc_core.services.storage_admin",
    "grc_core.storage",
    "magic",
    "rich.progress",
    "rich.tree",
    "snowballstemmer",
)


@pytest.fixture
def listing_env(tmp_path: Path) -> dict[str, str]:
    """A SQLite database with an administrator and one exchange; the environment to reach it
    from a subprocess."""
    url = f"sqlite:///{tmp_path / 'grc.sqlite3'}"
    grc = Grc(url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    grc.ok(
        "exchange", "add", "--subject", "Premier contact", "--start", "2026-03-02T10:00",
        "--action", "call", as_="admin",
    )  # fmt: skip
    env = dict(os.environ)
    for name, value in cli_env(tmp_path).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["GRC_DATABASE_URL"] = url
    return env


def _probe(env: dict[str, str], *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    report["stdout"] = done.stdout
    return report


def _loaded(modules: object, prefix: str) -> bool:
    assert isinstance(modules, list)
    return any(name == prefix or name.startswith(prefix + ".") for name in modules)


def test_a_listing_imports_only_what_it_prints(listing_env):
    report = _probe(listing_env, "--as", "admin", "exchange", "list", "--limit", "20")
    assert report["exit"] == 0
    assert "Premier contact" in str(report["stdout"])  # the listing ran and printed its row
    # What it does need, so that the check below is about this command having run.
    for needed in ("sqlalchemy.orm", "grc_core.models", "grc_core.queries.exchanges", "rich"):
        assert _loaded(report["modules"], needed), needed
    loaded = [name for name in NOT_FOR_A_LISTING if _loaded(report["modules"], name)]
    assert loaded == []
    # Imported by SQLAlchemy, never used by the listing: still stand-ins.
    assert report["deferred"] == ["asyncio", "hashlib", "importlib.metadata"]
    assert not _loaded(report["modules"], "ssl")


def test_a_filter_imports_the_service_that_checks_it(listing_env):
    report = _probe(listing_env, "--as", "admin", "exchange", "list", "--action", "call")
    assert report["exit"] == 0
    assert "Premier contact" in str(report["stdout"])
    assert _loaded(report["modules"], "grc_core.services.picklists")


def test_the_json_listing_still_carries_the_representation(listing_env):
    report = _probe(listing_env, "--as", "admin", "--json", "exchange", "list")
    assert report["exit"] == 0
    assert _loaded(report["modules"], "grc_core.representation")
    data = json.loads(str(report["stdout"]).rsplit("\n{", 1)[0])
    assert [row["action"] for row in data] == ["call"]


def test_the_collector_resumes_once_the_command_is_imported(listing_env):
    report = _probe(listing_env, "--as", "admin", "exchange", "list")
    assert report["exit"] == 0
    assert report["gc_enabled"] is True
    assert isinstance(report["frozen"], int) and report["frozen"] > 0  # start-up frozen


def test_the_collector_resumes_after_help_too(listing_env):
    report = _probe(listing_env, "--help")
    assert report["exit"] == 0
    assert report["gc_enabled"] is True


def test_a_collector_disabled_by_the_caller_stays_disabled(listing_env):
    report = _probe(listing_env, "--gc-off", "--as", "admin", "exchange", "list")
    assert report["exit"] == 0
    assert report["gc_enabled"] is False


def test_a_partial_index_is_built_without_the_postgresql_dialect(monkeypatch):
    # The dialects SQLAlchemy looked up to check arguments are cached: start afresh, with
    # PostgreSQL's lookup (the import of its dialect) refused.
    from sqlalchemy import Column, Integer, MetaData, Table, text
    from sqlalchemy.sql.base import DialectKWArgs, _kw_reg_for_dialect
    from sqlalchemy.util import PopulateDict

    from grc_core.models.event import partial_index

    def lookup(name: str) -> object:
        assert name != "postgresql", "the PostgreSQL dialect was loaded"
        return _kw_reg_for_dialect(name)

    monkeypatch.setattr(DialectKWArgs, "_kw_registry", PopulateDict(lookup))
    table = Table("t", MetaData(), Column("id", Integer), Column("done", Integer))
    index = partial_index("ix_t_pending", table.c.id, where=text("done = 0"))
    assert index.dialect_options["sqlite"]["where"] is not None


def test_a_partial_index_is_the_index_postgresql_where_would_give():
    from sqlalchemy import Column, Index, Integer, MetaData, Table, text
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex

    from grc_core.models.event import partial_index

    table = Table("t", MetaData(), Column("id", Integer), Column("done", Integer))
    late = partial_index("ix_late", table.c.id, where=text("done = 0"))
    plain = Index(
        "ix_plain", table.c.id, sqlite_where=text("done = 0"), postgresql_where=text("done = 0")
    )
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        made = str(CreateIndex(late).compile(dialect=dialect))
        assert made == str(CreateIndex(plain).compile(dialect=dialect)).replace("plain", "late")
        assert made.endswith("WHERE done = 0")
    assert sorted(late.dialect_kwargs) == ["postgresql_where", "sqlite_where"]
    assert late.dialect_options["postgresql"]["using"] is False  # the dialect's defaults too


_DEFERRED_PROBE = """
import sys, threading
from grc_cli.deferred import DeferredModule, defer_unused_modules
defer_unused_modules()
import sqlalchemy.orm
from sqlalchemy.util import compat
assert type(sys.modules["asyncio"]) is DeferredModule
assert type(sys.modules["importlib.metadata"]) is DeferredModule
stand_in = sys.modules["asyncio"]
import asyncio
from importlib import metadata
assert asyncio is stand_in and compat.asyncio is asyncio

async def answer():
    await asyncio.sleep(0)
    return 42

found = []
readers = [threading.Thread(target=lambda: found.append(asyncio.run(answer()))) for _ in range(4)]
for reader in readers:
    reader.start()
for reader in readers:
    reader.join()
assert found == [42] * 4, found
assert type(asyncio) is type(sys)  # a plain module once loaded
from asyncio import events
assert events.get_event_loop_policy() is not None
assert metadata.version("click") and compat.importlib_metadata is metadata
assert type(sys.modules["hashlib"]) is DeferredModule
assert compat.md5_not_for_security().hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"
import hashlib
assert type(hashlib) is type(sys) and compat.hashlib is hashlib
print("ok")
"""


def test_deferred_modules_load_on_first_use_as_the_same_modules():
    done = subprocess.run([sys.executable, "-c", _DEFERRED_PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_version_reads_the_deferred_metadata(listing_env):
    report = _probe(listing_env, "--version")
    assert report["exit"] == 0
    assert "grc, version" in str(report["stdout"])
    assert "importlib.metadata" not in report["deferred"]  # loaded to read the version


_MODELS_PROBE = """
import sys
import grc_core.models as models

def declared():
    return sorted(n for n in sys.modules if n.startswith("grc_core.models."))

assert declared() == [], declared()
from grc_core.models import Exchange
assert "grc_core.models.exchange" in declared()
assert "grc_core.models.notification" not in declared()
from sqlalchemy.orm import configure_mappers
configure_mappers()  # what an exchange refers to is declared with it
from grc_core.models import Base
assert len(declared()) == len(set(models._MODULE_OF.values())), declared()
tables = set(Base.metadata.tables)
assert {"notification_rules", "devices", "api_tokens", "attachments", "events"} <= tables
configure_mappers()  # the models declared later join the ones already configured
for name in models.__all__:
    module = sys.modules["grc_core.models." + models._MODULE_OF[name]]
    assert getattr(models, name) is getattr(module, name), name
assert set(models.__all__) == set(models._MODULE_OF)
assert set(models.__all__) <= set(dir(models))
print("ok")
"""


def test_models_are_declared_when_their_names_are_read():
    done = subprocess.run([sys.executable, "-c", _MODELS_PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
