"""No traceback ever reaches the user (issue 9, defect 13).

Hypothesis drives ``grc`` with commands and options taken from the real command tree (every
leaf command of the root group, every option it declares) and with arguments of every
kind: ids that exist and ids that do not, huge and negative numbers, dates at the ends of
the calendar, codes the database knows, free text, control characters, NUL, 5,000-digit
numbers.  Whatever the command says, it must say it as a documented exit code, never as a
traceback: ``CliRunner`` catches any exception a command lets escape and reports it as
``result.exception``, which must then be the ``SystemExit`` of a clean exit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grc_cli.failures import ExitCode
from grc_cli.main import cli
from grc_core.files import samples

from .runner import Grc, cli_env

#: Commands left out, and why: ``demo`` builds a whole database of its own (seconds, and
#: it is tested on its own); ``notify work`` and ``serve`` run until they are stopped.
SKIPPED = {("demo",), ("notify", "work"), ("serve",)}

#: Options the runner sets itself (the database, the configuration file): a random --db
#: would create SQLite files wherever the text points.
OWN_OPTIONS = {"--db", "--config", "late_database_url", "late_config_file"}

#: The exit statuses docs/cli.md documents.
DOCUMENTED = {int(code) for code in ExitCode}

#: Files in the working folder, for FILE arguments and options (never absolute paths).
FILES = ("cr.pdf", "logo.png", "notes.txt", "absent.pdf", "-")

#: Words the database knows (codes, logins, names, rule fields) and words it does not.
WORDS = (
    "1", "2", "3", "0", "admin", "alice", "bob", "ghost", "acme", "ACME", "call", "meeting",
    "todo", "note", "done", "planned", "client", "prospect", "phone", "source", "source=web",
    "source~we", "source>3", "budget<=10", "exchange.created", "exchange.updated",
    "exchange.subject contains 'x'", "exchange.start < now() - 1d", "author", "assignees",
    "inbox", "email", "task", "local", "archive", "2026-03-02", "2026-03-02 10:00",
    "2026-03-02T10:00:00+01:00", "9999-12-31 23:59", "0001-01-01", "now", "today", "1h",
    "90s", "20MB", "1.5GB", "Europe/Paris", "fr", "en", "ventes", "ventes/export",
)  # fmt: skip

HOSTILE = (
    "\x00", "a\x00b", "\x1b]0;title\x07", "\x1b[2J", "\u202e", "\x9b31m", "'", '"', "\\",
    "[/]", "[bold]", "%", "_", "*", "--", "-1", "-99999999999", "9" * 5000, "1e309", "nan",
    "inf", "99999999999d", "1" + "0" * 30, "0x10", " ", "", "é" * 300, "../../etc/passwd",
)  # fmt: skip

#: Rule conditions: a field, an operator and a literal of any kind (--when, rule tests).
conditions = st.builds(
    "{} {} {}".format,
    st.sampled_from(["exchange.start", "exchange.subject", "custom.budget", "company.status"]),
    st.sampled_from(["<", "=", "contains", "-", "+"]),
    st.one_of(
        st.sampled_from(HOSTILE),
        st.integers().map(str),
        st.sampled_from(["now() - 99999999999d", "today() + 1d", "'x'", "9999-12-31 + 1d"]),
    ),
)

text_values = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS),
    st.sampled_from(HOSTILE),
    conditions,
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(" ")),
)


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    command: click.Command


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[Leaf]:
    for name in sorted(group.commands):
        command = group.commands[name]
        path = (*prefix, name)
        if path in SKIPPED:
            continue
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield Leaf(path, command)
            yield from _leaves(command, path)
        else:
            yield Leaf(path, command)


LEAVES = list(_leaves(cli))


_IDS = st.sampled_from(["1", "2", "3", "4"])
_LOGINS = st.sampled_from(["admin", "alice", "bob", "ghost"])
_WHEN = st.sampled_from(["2026-03-02", "2026-03-02 10:00", "2026-03-01T08:00:00+01:00"])
_CODES = {
    "action": ["call", "meeting", "todo", "note", "fax"],
    "medium": ["phone", "video", "email"],
    "status": ["planned", "done", "client", "prospect", "in_progress"],
    "stage": ["prospecting", "won", "lost", "signed"],
    "category": ["ventes", "ventes/export", "support"],
    "on": ["exchange.created", "exchange.updated", "exchange.completed", "attachment.added"],
    "to": ["author", "assignees", "followers", "users:alice", "admins"],
    "channels": ["inbox", "email", "task", "sms", "report"],
    "kind": ["action", "status", "medium", "stage"],
    "field_values": ["source=web", "budget=12", "source=", "budget=x"],
    "conditions": ["source~we", "budget>3", "budget<=10", "source=web", "nope=1"],
}
#: Values that fit an option or argument, by its parameter name (and plural forms).
VOCABULARY: dict[str, st.SearchStrategy[str]] = {
    **{name: st.sampled_from(values) for name, values in _CODES.items()},
    **{f"{name}s": st.sampled_from(values) for name, values in _CODES.items()},
    "triggers": st.sampled_from(_CODES["on"]),
    "events": st.sampled_from(_CODES["on"]),
    "recipients": st.sampled_from(_CODES["to"]),
    "condition": conditions,
    "login": _LOGINS, "owner": _LOGINS, "author": _LOGINS, "assignee": _LOGINS, "by": _LOGINS,
    "start": _WHEN, "end": _WHEN, "since": _WHEN, "until": _WHEN, "expires": _WHEN,
    "name": st.sampled_from(["ACME", "[/] [bold]x", "Globex", "local", "archive", "suivi"]),
    "words": st.sampled_from(["echeance", "renouvellement", "contrat", "x"]),
}  # fmt: skip


def _value(param: click.Parameter) -> st.SearchStrategy[str]:
    """A value for ``param``: mostly one that fits it, sometimes anything."""
    name = param.name or ""
    if name in VOCABULARY:
        return st.one_of(VOCABULARY[name], VOCABULARY[name], text_values)
    if name.endswith(("_id", "_ids", "ids")) or name in ("company", "record", "ref"):
        return st.one_of(_IDS, _IDS, _IDS, text_values)
    kind = param.type
    if isinstance(kind, click.Choice):
        typed: st.SearchStrategy[str] = st.sampled_from([str(c) for c in kind.choices])
    elif isinstance(kind, click.IntRange | click.types.IntParamType):
        typed = st.one_of(
            st.integers(min_value=0, max_value=6),
            st.integers(min_value=-(10**30), max_value=10**30),
        ).map(str)
    elif isinstance(kind, click.Path | click.File):
        return st.sampled_from(FILES)
    elif isinstance(kind, click.types.BoolParamType):
        typed = st.sampled_from(["true", "false", "yes", "0"])
    else:
        return text_values
    return st.one_of(typed, typed, text_values)


def _option_args(option: click.Option) -> st.SearchStrategy[list[str]]:
    name = max(option.opts, key=len)
    if option.is_flag or option.count:
        return st.just([name])
    value = st.tuples(*[_value(option)] * option.nargs) if option.nargs > 1 else None
    if value is not None:
        return value.map(lambda values: [name, *values])
    return _value(option).map(lambda v: [name, v])


@st.composite
def invocations(draw: st.DrawFn, leaf: Leaf) -> list[str]:
    """``--as LOGIN [--json] COMMAND... OPTIONS... ARGUMENTS...``."""
    args = ["--as", draw(st.sampled_from(["admin", "alice", "bob", "ghost"]))]
    if draw(st.booleans()):
        args.append("--json")
    args += leaf.path
    options = [
        p for p in leaf.command.params
        if isinstance(p, click.Option) and p.name not in OWN_OPTIONS
        and not OWN_OPTIONS & set(p.opts) and p.name not in ("help", "late_login")
    ]  # fmt: skip
    for option in options:
        if option.required or draw(st.booleans()):
            repeat = draw(st.integers(1, 2)) if option.multiple else 1
            for _ in range(repeat):
                args += draw(_option_args(option))
    positional: list[str] = []
    for argument in (p for p in leaf.command.params if isinstance(p, click.Argument)):
        if not argument.required and draw(st.booleans()):
            continue
        count = draw(st.integers(1, 3)) if argument.nargs == -1 else max(argument.nargs, 1)
        positional += [draw(_value(argument)) for _ in range(count)]
    if positional:
        # After "--", a value that starts with a dash stays a value.
        args += ["--", *positional] if draw(st.booleans()) else positional
    return args


# -- a database with something of everything -------------------------------------------


@dataclass
class Installation:
    url: str
    home: Path
    work: Path


def _populate(url: str, home: Path) -> None:
    grc = Grc(url, home)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    for login in ("alice", "bob"):
        grc.ok("user", "add", login, "--name", login.title(), as_="admin")
    grc.ok("company", "add", "ACME", "--status", "client", as_="admin")
    grc.ok("opportunity", "add", "1", "--title", "Renouvellement", as_="admin")
    grc.ok("contact", "add", "1", "--last-name", "Durand", as_="admin")
    grc.ok("field", "add", "source", "--label", "Source", "--type", "text", as_="admin")
    grc.ok("field", "add", "budget", "--label", "Budget", "--type", "integer", as_="admin")
    grc.ok("category", "add", "ventes", "--fr", "Ventes", as_="admin")
    for n, private in enumerate((False, True, False)):
        grc.ok(
            "exchange", "add", "--subject", f"Échéance {n}", "--start", f"2026-03-0{n + 1} 10:00",
            "--action", "call", "--company", "1", "--details", "Renouvellement du contrat",
            *(["--private"] if private else []), as_="alice",
        )  # fmt: skip
    grc.ok(
        "rules", "add", "suivi", "--on", "exchange.created", "--when",
        "exchange.action = 'call'", "--to", "author", "--channel", "inbox", as_="admin",
    )  # fmt: skip
    work = home / "work"
    (work / "cr.pdf").write_bytes(samples.pdf("Compte rendu"))
    grc.ok("attachment", "add", str(work / "cr.pdf"), "--exchange", "1", as_="alice")


def _installation(kind: str, db_factory: Any, home: Path) -> Installation:
    work = home / "work"
    work.mkdir()
    (work / "logo.png").write_bytes(samples.png())
    (work / "notes.txt").write_text("pas un document accepté\n", encoding="utf-8")
    url = db_factory.url(kind)
    _populate(url, home)
    return Installation(url, home, work)


@pytest.fixture(scope="module")
def sqlite_installation(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Installation:
    return _installation("sqlite", db_factory, tmp_path_factory.mktemp("no-traceback"))


@pytest.fixture(scope="module")
def pg_installation(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Installation:
    return _installation("postgresql", db_factory, tmp_path_factory.mktemp("no-traceback"))


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Relative FILE arguments (and fetched files) stay in ``folder``."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _check(installation: Installation, args: list[str]) -> None:
    runner = CliRunner(env=cli_env(installation.home))
    with _inside(installation.work):
        result = runner.invoke(cli, ["--db", installation.url, *args], input="")
    shown = f"grc {' '.join(map(repr, args))}\nexit {result.exit_code}\n{result.output[-2000:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\nraised {result.exception!r}"
    )
    assert result.exit_code in DOCUMENTED, shown
    assert "Traceback" not in result.output, shown


COMMON = {
    "deadline": None,
    "database": None,  # examples are not replayed from a local folder: CI sees the same
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


#: Examples per command: every command gets its share, whatever the size of the tree
#: (about 320 invocations on SQLite and 160 on PostgreSQL, at about 0.1 s each).
SQLITE_EXAMPLES = 4
POSTGRESQL_EXAMPLES = 2


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: "-".join(leaf.path))
@given(data=st.data())
@settings(max_examples=SQLITE_EXAMPLES, **COMMON)
def test_no_traceback_on_sqlite(
    sqlite_installation: Installation, leaf: Leaf, data: st.DataObject
) -> None:
    _check(sqlite_installation, data.draw(invocations(leaf)))


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: "-".join(leaf.path))
@given(data=st.data())
@settings(max_examples=POSTGRESQL_EXAMPLES, **COMMON)
def test_no_traceback_on_postgresql(
    pg_installation: Installation, leaf: Leaf, data: st.DataObject
) -> None:
    _check(pg_installation, data.draw(invocations(leaf)))


def test_the_command_tree_is_walked():
    """The strategy reaches every kind of command (a new command group is drawn from too)."""
    groups = {leaf.path[0] for leaf in LEAVES}
    assert {"exchange", "attachment", "rules", "storage", "db", "search", "history"} <= groups
    assert len(LEAVES) > 40
