"""``grc demo``: a throw-away SQLite database filled with a realistic French sample."""

from __future__ import annotations

import mailbox
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_cli.commands.history import load_labels
from grc_cli.context import CliContext, pass_cli, warn, wide_option
from grc_cli.demo_data import (
    ADMIN,
    DEMO_ZONE,
    FOLLOWER,
    LATE_RULE,
    LATER,
    MEETING_RULE,
    STEPS,
    DemoWorld,
)
from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import (
    Output,
    Shown,
    attachment_data,
    attachments_table,
    dry_run_data,
    exchange_data,
    exchanges_table,
    inbox_entry_data,
    inbox_title,
    search_hit_data,
    search_table,
    show_dry_run,
    show_inbox,
    stats_summary,
    timeline_entry_data,
    timeline_table,
    verify_summary,
)
from grc_core.config import STORAGE_ENV_PREFIX, Settings
from grc_core.facade import Grc
from grc_core.files.modes import directory_mode, make_private_dirs
from grc_core.models import Attachment, CompanyStatus, Event, User
from grc_core.notify import inbox, rule_admin
from grc_core.notify.worker import RunStats
from grc_core.queries import history, search
from grc_core.queries.exchanges import list_exchanges
from grc_core.services import attachments, companies, exchanges, opportunities, users
from grc_core.services.storage_admin import VerifyReport, verify_storage

DATABASE_NAME = "grc-demo.sqlite3"
#: The local storage root, inside the demo's folder like its database.
ATTACHMENTS_DIR = "attachments"
#: The default folder, in the temporary directory: each run replaces the previous demo's.
DEMO_FOLDER = "grc-demo"
#: The variable that points later commands at the demo's attachments.
ROOT_VARIABLE = f"{STORAGE_ENV_PREFIX}LOCAL__ROOT"
#: The quick search the demo runs: no accent, yet it finds "Échéance …".
SEARCH_QUERY = "echeance"
#: The mbox file the demo's e-mail channel writes to, in the demo's folder (no SMTP server).
MAILBOX_FILE = "mailbox.mbox"
#: What a demo's folder holds (SQLite may leave its journal files beside the database).
_DEMO_ENTRIES = frozenset(
    {
        DATABASE_NAME,
        *(f"{DATABASE_NAME}-{suffix}" for suffix in ("wal", "shm", "journal")),
        ATTACHMENTS_DIR,
        MAILBOX_FILE,
    }
)
#: The sender of the demo's e-mails.
DEMO_SENDER = "GRC démo <grc@exemple.fr>"
#: The exchange whose creation the meeting rule is tried on (a call: it does not fire).
DRY_RUN_ON = "appel_maintenance"
#: The private exchange the follower may not see, hence hears nothing of.
PRIVATE_NOTE = "note_negociation"
#: The to-do the escalation rule finds late.
LATE_TODO = "demo_tracabilite"
#: The headers of the first e-mail the demo shows: (header, JSON key).
MAIL_HEADERS = (
    ("Subject", "subject"),
    ("From", "from"),
    ("To", "to"),
    ("Message-ID", "message_id"),
)


def _previous_demo(folder: Path) -> bool:
    """Whether ``folder`` holds a previous demo and nothing else (it may then be replaced)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    if hasattr(os, "getuid") and folder.stat().st_uid != os.getuid():
        return False
    names = {entry.name for entry in folder.iterdir()}
    return DATABASE_NAME in names and names <= _DEMO_ENTRIES


def fresh_folder(directory: Path | None) -> Path:
    """The folder to create the demo in: ``directory`` if new or empty; by default
    ``grc-demo`` in the temporary directory, replacing the previous demo's (so running the
    demo again and again leaves one folder behind, not one per run), or a numbered
    ``grc-demo-N`` when that name is taken by something else."""
    if directory is not None:
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise CliFailure(
                f"--dir {directory} is not an empty folder; give a new or empty one",
                ExitCode.USAGE,
            )
        make_private_dirs(directory)
        return directory.resolve()
    base = Path(tempfile.gettempdir()) / DEMO_FOLDER
    if _previous_demo(base):
        shutil.rmtree(base)
    candidate, n = base, 1
    while True:
        try:
            # Private: the demo's database, documents and e-mails are inside.
            candidate.mkdir(directory_mode())
            os.chmod(candidate, directory_mode())
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def grc_command() -> str:
    """How a fresh shell runs this very ``grc``: ``grc`` when the shell finds it on its
    ``PATH``, else the full path of the script (``…/.venv/bin/grc`` after ``make demo``),
    so that the commands the demo suggests can be copied as they are."""
    script = Path(sys.executable).parent / "grc"
    if not script.is_file():
        return "grc"
    found = shutil.which("grc")
    if found is not None and Path(found).resolve() == script.resolve():
        return "grc"
    return shlex.quote(str(script.absolute()))


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


def _explore(grc: str, url: str, company_id: int) -> list[str]:
    db = shlex.quote(url)
    return [
        f"{grc} --db {db} exchange list --as mmartin",
        f"{grc} --db {db} exchange list --as {ADMIN}   # an administrator sees private ones too",
        f"{grc} --db {db} company list",
        f"{grc} --db {db} exchange list --category commercial --field priorite=haute --as {ADMIN}",
        f"{grc} --db {db} history company {company_id} --as mmartin   # the private note is hidden",
        f"{grc} --db {db} search 'contrat maint' --as mmartin",
    ]


def _explore_attachments(grc: str, url: str, root: Path, world: DemoWorld) -> list[str]:
    """Commands on the demo's attachments: they need its storage root as well as its URL."""
    env = f"{ROOT_VARIABLE}={shlex.quote(str(root))}"
    db = shlex.quote(url)
    report = world.exchanges["comite_commercial"]
    pdf = world.attachments["compte_rendu"]
    return [
        f"{env} {grc} --db {db} attachment list --exchange {report} --as {ADMIN}",
        f"{env} {grc} --db {db} attachment fetch {pdf} --as {ADMIN}   # saved in this folder",
        f"{env} {grc} --db {db} storage verify --as {ADMIN}",
    ]


def _explore_notifications(grc: str, url: str, mbox: Path, event_id: int) -> list[str]:
    """Commands on the demo's notifications."""
    db = shlex.quote(url)
    login, _ = FOLLOWER
    return [
        f"{grc} --db {db} inbox --as {login}",
        f"{grc} --db {db} subscriptions --as {login}",
        f"{grc} --db {db} rules list",
        f"{grc} --db {db} rules test {shlex.quote(MEETING_RULE)} --event {event_id} --as {ADMIN}",
        f"{grc} --db {db} notify events --as {ADMIN}",
        f"GRC_CHANNEL__EMAIL__MAILBOX={shlex.quote(str(mbox))} {grc} --db {db} notify run-once",
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
    notifications: Shown


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
        "entries": [timeline_entry_data(e, out.zone) for e in page.entries],
        "next_cursor": page.next_cursor,
    }
    notes = [Text(event, style="italic") for event in world.events]
    return Shown(data, Group(table, *notes, Text("")))


def _search(out: Output, session: Session, admin: User) -> Shown:
    """A quick search typed without accents."""
    hits = search.search(session, admin, SEARCH_QUERY)
    title = f"Quick search for {SEARCH_QUERY!r} (typed without accents), as {ADMIN!r} sees it"
    data = {"query": SEARCH_QUERY, "hits": [search_hit_data(h, out.zone) for h in hits]}
    return Shown(data, search_table(out, hits, title=title))


def _header(message: mailbox.mboxMessage, name: str) -> str:
    return str(make_header(decode_header(message.get(name, ""))))


def _mailbox(path: Path) -> dict[str, Any]:
    """How many e-mails the file holds, and the headers of the first."""
    if not path.exists():
        return {"path": str(path), "count": 0, "first": None}
    box = mailbox.mbox(path, create=False)
    try:
        messages = list(box)
    finally:
        box.close()
    first = None
    if messages:
        first = {key: _header(messages[0], name) for name, key in MAIL_HEADERS}
    return {"path": str(path), "count": len(messages), "first": first}


def _creation_event(session: Session, exchange_id: int) -> Event:
    stmt = select(Event).where(
        Event.entity_type == "exchange",
        Event.entity_id == exchange_id,
        Event.kind == "exchange.created",
    )
    event = session.scalars(stmt).one()
    return event


def _notifications(out: Output, session: Session, world: DemoWorld, mbox: Path) -> Shown:
    """What the notification steps produced: an inbox, the mailbox, a rule's dry run."""
    login, company_key = FOLLOWER
    follower = users.get_user(session, login)
    entries = inbox.list_inbox(session, follower, limit=inbox.MAX_PAGE)
    unread = inbox.unread_count(session, follower)
    shown_inbox = show_inbox(out, login, entries, unread)
    mail = _mailbox(mbox)
    event = _creation_event(session, world.exchanges[DRY_RUN_ON])
    dry = rule_admin.test_rule(session, MEETING_RULE, event.id)
    dry_data = dry_run_data(MEETING_RULE, event, dry)
    company = companies.get_company(session, world.companies[company_key]).name
    now, later = (RunStats(**world.deliveries[k]) for k in ("now", "later"))
    data: dict[str, Any] = {
        "subscription": {"user": login, "company": company},
        "rules": [MEETING_RULE, LATE_RULE],
        "deliveries": world.deliveries,
        "inbox": {
            "user": login,
            "unread": unread,
            "items": [inbox_entry_data(e, out.zone) for e in entries],
        },
        "mailbox": mail,
        "dry_run": dry_data,
    }
    note = exchanges.get_exchange(
        session, users.get_user(session, ADMIN), world.exchanges[PRIVATE_NOTE]
    )
    told_of_note = any(e.about.get("exchange_id") == note.id for e in entries)
    escalated = _escalated(session, world)
    data["escalated"] = escalated
    data["private_note_notified"] = told_of_note
    lines: list[RenderableType] = [
        Text(
            f"Notifications: {login} follows {company}; rules {MEETING_RULE!r} (a new meeting: "
            f"its company's owner and assignees are told, by e-mail and inbox) and "
            f"{LATE_RULE!r} (an escalation)",
            style="bold",
        ),
        Text(f"delivery now: {stats_summary(now)}"),
        Text(
            f"delivery {LATER.days} days later (the escalation sweep finds the late to-do): "
            f"{stats_summary(later)}"
        ),
        *(Text(f"escalated to {e['user']}: {e['title']}") for e in escalated),
        Text(
            f"{login} was told nothing of the private note {note.subject!r}: she may not see it"
            if not told_of_note
            else f"{login} was told of the private note {note.subject!r}"
        ),
        Text(""),
        shown_inbox.view if entries else Text(inbox_title(login, unread)),
        Text(""),
        Text(f"E-mails written to {mail['path']}: {mail['count']}"),
    ]
    if mail["first"]:
        lines += [Text(f"  {name}: {mail['first'][key]}") for name, key in MAIL_HEADERS]
    lines += [Text(""), show_dry_run(out, dry_data).view, Text("")]
    return Shown(data, Group(*lines))


def _escalated(session: Session, world: DemoWorld) -> list[dict[str, Any]]:
    """The escalation alerts in the inboxes of the late to-do's assignees."""
    admin = users.get_user(session, ADMIN)
    todo = exchanges.get_exchange(session, admin, world.exchanges[LATE_TODO])
    found = []
    for user in sorted(todo.assignees, key=lambda u: u.login):
        for entry in inbox.list_inbox(session, user, limit=inbox.MAX_PAGE):
            if entry.about.get("rule") == LATE_RULE:
                found.append({"user": user.login, "title": entry.title, "id": entry.id})
    return found


def run_demo(grc: Grc, out: Output, mbox: Path) -> Outcome:
    """Migrate, run every step, then read the sample back as the administrator sees it.

    :param mbox: the mailbox file the e-mail channel writes to (``grc.settings`` says so).
    """
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
        shown = Shown([exchange_data(e, out.zone) for e in sample], table)
        labels = {a.id: _attached_to(session, admin, a) for a in files}
        files_data = [{**attachment_data(a, out.zone), "attached_to": labels[a.id]} for a in files]
        files_table = attachments_table(
            out, files_data, title="Attached documents", attached_to=labels
        )
        timeline = _timeline(out, session, admin, world)
        found = _search(out, session, admin)
        notified = _notifications(out, session, world, mbox)
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
        notified,
    )


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help="New or empty folder for the demo database (default: a new grc-demo-* temp folder).",
)
@wide_option
@pass_cli
def demo(state: CliContext, directory: Path | None) -> None:
    """Create a demo database with a French sample; show its exchanges, documents, a
    company's timeline, a quick search and notifications.

    The demo ignores --db, --as and the configuration file: it always works on a new SQLite
    file, so it can never touch real data.
    """
    timezone = state.timezone or DEMO_ZONE
    out = Output(json_output=state.json_output, timezone=timezone, language="fr", wide=state.wide)
    folder = fresh_folder(directory)
    path = folder / DATABASE_NAME
    root = folder / ATTACHMENTS_DIR
    url = f"sqlite:///{path}"
    out.status(f"creating the demo database {path}")
    # The storage root is given here, never read from the environment or a file: the demo's
    # documents stay in its folder with its database.
    mbox = folder / MAILBOX_FILE
    # Likewise the e-mail channel writes to a mailbox file in that folder: no SMTP server.
    settings = Settings(
        database_url=url,
        timezone=timezone,
        storage={"local": {"root": str(root)}},
        channels={"email": {"mailbox": str(mbox), "from_address": DEMO_SENDER}},
    )
    grc = Grc(settings)
    try:
        outcome = run_demo(grc, out, mbox)
        if not grc.scanners():
            warn("no virus scanner is active: the demo's documents were stored unscanned")
    finally:
        grc.dispose()
    command = grc_command()
    explore = _explore(command, url, outcome.company_id)
    explore_attachments = _explore_attachments(command, url, root, outcome.world)
    explore_notifications = _explore_notifications(
        command, url, mbox, outcome.notifications.data["dry_run"]["event"]["id"]
    )
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
                "notifications": outcome.notifications.data,
                "explore": explore + explore_attachments + explore_notifications,
            }
        )
        return
    where = [Text(f"Database: {path}"), Text(f"Attachments: {root}")]
    if directory is None:
        where.append(Text(f"(the next grc demo replaces {folder})"))
    if command != "grc":
        activate = shlex.quote(str(Path(sys.executable).parent / "activate"))
        where.append(
            Text(
                f"grc is not on this shell's PATH: the commands below name it in full; "
                f"or run `. {activate}` first, then type grc."
            )
        )
    out.console.print(outcome.exchanges.view)
    out.console.print(outcome.attachments.view)
    out.console.print(outcome.timeline.view)
    out.console.print(outcome.search.view)
    out.console.print(outcome.notifications.view)
    out.console.print(Group(Text(outcome.summary.sentence()), Text(check)))
    for line in where:  # paths and a command: whole, never folded
        out.console.print(line, soft_wrap=True)
    # Commands are printed whole, one a line, never folded: a copied line runs as shown
    # (the terminal wraps long lines on screen without adding newlines to them).
    for heading, commands in (
        ("Explore it further:", explore),
        (
            f"Commands that read or store attachments also need {ROOT_VARIABLE}:",
            explore_attachments,
        ),
        ("Notifications:", explore_notifications),
    ):
        out.console.print(Text(heading), soft_wrap=True)
        for command in commands:
            out.console.print(Text(f"  {command}"), soft_wrap=True)


def register(cli: click.Group) -> None:
    """Add ``grc demo`` to the root group."""
    cli.add_command(demo)
