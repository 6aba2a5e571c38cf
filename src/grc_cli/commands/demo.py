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
from sqlalchemy.orm import Session

from grc_cli.commands.history import load_labels
from grc_cli.context import CliContext, pass_cli
from grc_cli.demo_data import ADMIN, DEMO_ZONE, STEPS, DemoWorld
from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import (
    Output,
    Shown,
    attachment_data,
    attachments_table,
    exchange_data,
    exchanges_table,
    search_hit_data,
    search_table,
    timeline_entry_data,
    timeline_table,
    verify_summary,
)
from grc_core.config import STORAGE_ENV_PREFIX, Settings
from grc_core.facade import Grc
from grc_core.models import Attachment, CompanyStatus, User
from grc_core.queries import history, search
from grc_core.queries.exchanges import list_exchanges
from grc_core.services import attachments, companies, exchanges, opportunities, users
from grc_core.services.storage_admin import VerifyReport, verify_storage

DATABASE_NAME = "grc-demo.sqlite3"
#: The local storage root, inside the demo's folder like its database.
ATTACHMENTS_DIR = "attachments"
#: The variable that points later commands at the demo's attachments.
ROOT_VARIABLE = f"{STORAGE_ENV_PREFIX}LOCAL__ROOT"
#: The quick search the demo runs: no accent, yet it finds "Échéance …".
SEARCH_QUERY = "echeance"


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
    attachments: int

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
            "attachments": self.attachments,
        }

    def sentence(self) -> str:
        by_status = ", ".join(
            f"{n} {status}{'s' if n != 1 else ''}" for status, n in self.companies.items()
        )
        return (
            f"{self.users} users, {sum(self.companies.values())} companies ({by_status}), "
            f"{self.contacts} contacts, {self.opportunities} opportunities, "
            f"{self.exchanges} exchanges ({self.private} private, {self.global_} global, "
            f"{self.closed} closed), {self.attachments} attachments"
        )


def _explore(url: str, company_id: int) -> list[str]:
    db = shlex.quote(url)
    return [
        f"grc --db {db} exchange list --as mmartin",
        f"grc --db {db} exchange list --as {ADMIN}      # an administrator sees private ones too",
        f"grc --db {db} company list",
        f"grc --db {db} exchange list --category commercial --field priorite=haute --as {ADMIN}",
        f"grc --db {db} history company {company_id} --as mmartin   # the private note is hidden",
        f"grc --db {db} search 'contrat maint' --as mmartin",
    ]


def _explore_attachments(url: str, root: Path, world: DemoWorld) -> list[str]:
    """Commands on the demo's attachments: they need its storage root as well as its URL."""
    env = f"{ROOT_VARIABLE}={shlex.quote(str(root))}"
    db = shlex.quote(url)
    report = world.exchanges["comite_commercial"]
    pdf = world.attachments["compte_rendu"]
    return [
        f"{env} grc --db {db} attachment list --exchange {report} --as {ADMIN}",
        f"{env} grc --db {db} attachment fetch {pdf} --as {ADMIN}   # saved in the current folder",
        f"{env} grc --db {db} storage verify --as {ADMIN}",
    ]


@dataclass(frozen=True)
class Outcome:
    """What the demo shows: the exchanges, the attachments, a company's timeline, a search
    and the storage check."""

    exchanges: Shown
    attachments: Shown
    timeline: Shown
    search: Shown
    summary: Summary
    verified: VerifyReport
    world: DemoWorld
    company_id: int


def _attached_to(session: Session, admin: User, attachment: Attachment) -> str:
    kind, ident = attachment.owner
    if kind == "exchange":
        return f"exchange {ident}: {exchanges.get_exchange(session, admin, ident).subject}"
    if kind == "company":
        return f"company {ident}: {companies.get_company(session, ident).name}"
    return f"opportunity {ident}: {opportunities.get_opportunity(session, ident).title}"


def _busiest_company(session: Session, admin: User, world: DemoWorld) -> int:
    """The company whose history (as the administrator sees it) is the longest."""
    sizes = {
        ident: len(history.company_history(session, admin, ident, limit=history.MAX_PAGE).entries)
        for ident in sorted(world.companies.values())
    }
    return max(sizes, key=lambda ident: (sizes[ident], -ident))


def _timeline(out: Output, session: Session, admin: User, world: DemoWorld) -> Shown:
    """The busiest company's timeline, read through the history API, newest first."""
    company_id = _busiest_company(session, admin, world)
    name = companies.get_company(session, company_id).name
    page = history.company_history(session, admin, company_id)
    table = timeline_table(
        out,
        page.entries,
        load_labels(session, out.language),
        title=f"History of {name} (company {company_id}), as {ADMIN!r} sees it",
    )
    data = {
        "company": {"id": company_id, "name": name},
        "entries": [timeline_entry_data(e) for e in page.entries],
        "next_cursor": page.next_cursor,
    }
    notes = [Text(event, style="italic") for event in world.events]
    return Shown(data, Group(table, *notes, Text("")))


def _search(out: Output, session: Session, admin: User) -> Shown:
    """A quick search typed without accents."""
    hits = search.search(session, admin, SEARCH_QUERY)
    title = f"Quick search for {SEARCH_QUERY!r} (typed without accents), as {ADMIN!r} sees it"
    data = {"query": SEARCH_QUERY, "hits": [search_hit_data(h) for h in hits]}
    return Shown(data, search_table(out, hits, title=title))


def run_demo(grc: Grc, out: Output) -> Outcome:
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
        files = [
            attachments.get_attachment(session, admin, ident)
            for ident in sorted(world.attachments.values())
        ]
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
            attachments=len(files),
        )
        table = exchanges_table(out, sample, title=f"Sample exchanges, as {ADMIN!r} sees them")
        shown = Shown([exchange_data(e) for e in sample], table)
        labels = {a.id: _attached_to(session, admin, a) for a in files}
        files_data = [{**attachment_data(a), "attached_to": labels[a.id]} for a in files]
        files_table = attachments_table(
            out, files_data, title="Attached documents", attached_to=labels
        )
        timeline = _timeline(out, session, admin, world)
        found = _search(out, session, admin)
    # The same check as `grc storage verify`: every row has its blob, intact, no orphan.
    verified = verify_storage(grc.session, grc.backends)
    return Outcome(
        shown,
        Shown(files_data, files_table),
        timeline,
        found,
        summary,
        verified,
        world,
        timeline.data["company"]["id"],
    )


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help="New or empty folder for the demo database (default: a new grc-demo-* temp folder).",
)
@pass_cli
def demo(state: CliContext, directory: Path | None) -> None:
    """Create a demo database with a French sample; show its exchanges, documents, a
    company's timeline and a quick search.

    The demo ignores --db, --as and the configuration file: it always works on a new SQLite
    file, so it can never touch real data.
    """
    timezone = state.timezone or DEMO_ZONE
    out = Output(json_output=state.json_output, timezone=timezone, language="fr")
    folder = fresh_folder(directory)
    path = folder / DATABASE_NAME
    root = folder / ATTACHMENTS_DIR
    url = f"sqlite:///{path}"
    out.status(f"creating the demo database {path}")
    # The storage root is given here, never read from the environment or a file: the demo's
    # documents stay in its folder with its database.
    settings = Settings(database_url=url, timezone=timezone, storage={"local": {"root": str(root)}})
    grc = Grc(settings)
    try:
        outcome = run_demo(grc, out)
    finally:
        grc.dispose()
    explore = _explore(url, outcome.company_id)
    explore_attachments = _explore_attachments(url, root, outcome.world)
    check = f"storage verify: {verify_summary(outcome.verified, repair=False)}"
    if out.json_output:
        out.emit_data(
            {
                "database": str(path),
                "database_url": url,
                "attachments_root": str(root),
                "summary": outcome.summary.data(),
                "exchanges": outcome.exchanges.data,
                "attachments": outcome.attachments.data,
                "timeline": outcome.timeline.data,
                "search": outcome.search.data,
                "storage_verify": {
                    "ok": outcome.verified.ok,
                    "checked": outcome.verified.checked,
                    "problems": len(outcome.verified.problems),
                    "summary": check,
                },
                "explore": explore + explore_attachments,
            }
        )
        return
    lines = [
        Text(outcome.summary.sentence()),
        Text(check),
        Text(f"Database: {path}"),
        Text(f"Attachments: {root}"),
        Text("Explore it further:"),
        *(Text(f"  {line}") for line in explore),
        Text(f"Commands that read or store attachments also need {ROOT_VARIABLE}:"),
        *(Text(f"  {line}") for line in explore_attachments),
    ]
    out.console.print(outcome.exchanges.view)
    out.console.print(outcome.attachments.view)
    out.console.print(outcome.timeline.view)
    out.console.print(outcome.search.view)
    out.console.print(Group(*lines))


def register(cli: click.Group) -> None:
    """Add ``grc demo`` to the root group."""
    cli.add_command(demo)
