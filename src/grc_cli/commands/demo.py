"""``grc demo``: a throw-away SQLite database filled with a realistic French sample."""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Group
from rich.text import Text

from grc_cli.context import CliContext, pass_cli
from grc_cli.demo_data import ADMIN, DEMO_ZONE, STEPS, DemoWorld
from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import Output, Shown, exchange_data, exchanges_table
from grc_core.config import Settings
from grc_core.facade import Grc
from grc_core.models import CompanyStatus
from grc_core.queries.exchanges import list_exchanges
from grc_core.services import companies, opportunities, users

DATABASE_NAME = "grc-demo.sqlite3"


def fresh_folder(directory: Path | None) -> Path:
    """The folder to create the demo in: ``directory`` if new or empty, else a new temp one."""
    if directory is not None:
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise CliFailure(
                f"--dir {directory} is not an empty folder; give a new or empty one",
                ExitCode.USAGE,
            )
        directory.mkdir(parents=True, exist_ok=True)
        return directory.resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(tempfile.gettempdir()) / f"grc-demo-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


@dataclass(frozen=True)
class Summary:
    """What the demo created, counted back through the services."""

    users: int
    companies: dict[str, int]
    contacts: int
    opportunities: int
    exchanges: int
    private: int
    global_: int
    closed: int

    def data(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "companies": self.companies,
            "contacts": self.contacts,
            "opportunities": self.opportunities,
            "exchanges": self.exchanges,
            "private_exchanges": self.private,
            "global_exchanges": self.global_,
            "closed_exchanges": self.closed,
        }

    def sentence(self) -> str:
        by_status = ", ".join(
            f"{n} {status}{'s' if n != 1 else ''}" for status, n in self.companies.items()
        )
        return (
            f"{self.users} users, {sum(self.companies.values())} companies ({by_status}), "
            f"{self.contacts} contacts, {self.opportunities} opportunities, "
            f"{self.exchanges} exchanges ({self.private} private, {self.global_} global, "
            f"{self.closed} closed)"
        )


def _explore(url: str) -> list[str]:
    db = shlex.quote(url)
    return [
        f"grc --db {db} exchange list --as mmartin",
        f"grc --db {db} exchange list --as {ADMIN}      # an administrator sees private ones too",
        f"grc --db {db} company list",
        f"grc --db {db} exchange list --category commercial --field priorite=haute --as {ADMIN}",
    ]


def run_demo(grc: Grc, out: Output) -> tuple[Shown, Summary]:
    """Migrate, run every step, then read the sample back as the administrator sees it."""
    grc.upgrade()
    world = DemoWorld.starting_today()
    for number, step in enumerate(STEPS, start=1):
        out.status(f"[{number}/{len(STEPS)}] {step.title}")
        step.run(grc, world)
    with grc.session(read_only=True) as session:
        admin = users.get_user(session, ADMIN)
        sample = list_exchanges(session, admin, limit=1000)
        all_companies = companies.list_companies(session)
        summary = Summary(
            users=len(users.list_users(session)),
            companies={
                status.value: sum(1 for c in all_companies if c.status is status)
                for status in CompanyStatus
            },
            contacts=sum(len(companies.list_contacts(session, c.id)) for c in all_companies),
            opportunities=len(opportunities.list_opportunities(session)),
            exchanges=len(sample),
            private=sum(1 for e in sample if e.private),
            global_=sum(1 for e in sample if e.company_id is None),
            closed=sum(1 for e in sample if e.status.is_closed),
        )
        table = exchanges_table(out, sample, title=f"Sample exchanges, as {ADMIN!r} sees them")
        shown = Shown([exchange_data(e) for e in sample], table)
    return shown, summary


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help="New or empty folder for the demo database (default: a new grc-demo-* temp folder).",
)
@pass_cli
def demo(state: CliContext, directory: Path | None) -> None:
    """Create a demo database with a French sample and show its exchanges.

    The demo ignores --db, --as and the configuration file: it always works on a new SQLite
    file, so it can never touch real data.
    """
    timezone = state.timezone or DEMO_ZONE
    out = Output(json_output=state.json_output, timezone=timezone, language="fr")
    folder = fresh_folder(directory)
    path = folder / DATABASE_NAME
    url = f"sqlite:///{path}"
    out.status(f"creating the demo database {path}")
    grc = Grc(Settings(database_url=url, timezone=timezone))
    try:
        shown, summary = run_demo(grc, out)
    finally:
        grc.dispose()
    explore = _explore(url)
    if out.json_output:
        out.emit_data(
            {
                "database": str(path),
                "database_url": url,
                "summary": summary.data(),
                "exchanges": shown.data,
                "explore": explore,
            }
        )
        return
    lines = [
        Text(summary.sentence()),
        Text(f"Database: {path}"),
        Text("Explore it further:"),
        *(Text(f"  {line}") for line in explore),
    ]
    out.console.print(shown.view)
    out.console.print(Group(*lines))


def register(cli: click.Group) -> None:
    """Add ``grc demo`` to the root group."""
    cli.add_command(demo)
