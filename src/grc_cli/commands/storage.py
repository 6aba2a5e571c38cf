"""``grc storage``: check the blobs against the rows, move them to another backend, list backends.

``verify`` and ``migrate`` read (and may delete or move) every attachment whoever can see
it, so they need an administrator.  Both work attachment by attachment in short
transactions of their own (see :mod:`grc_core.services.storage_admin`): they may run while
others work, and an interrupted migration resumes when run again.
"""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import select

from grc_cli.context import CliContext, pass_cli, warn
from grc_cli.failures import ExitCode
from grc_cli.output import progress_bar, show_backends, show_migration_report, show_verify_report
from grc_cli.params import DURATION
from grc_core.errors import ConfigError, GrcError
from grc_core.models import Attachment
from grc_core.services.storage_admin import (
    DEFAULT_GRACE,
    CheckStep,
    check_backend,
    migrate_storage,
    verify_storage,
)
from grc_core.services.users import require_admin


@click.group("storage")
def storage_group() -> None:
    """Verify and migrate the attachments' storage (administrators); list backends."""


def _require_admin(state: CliContext, what: str) -> None:
    """Refuse unless the acting user is an active administrator (exit code 4)."""
    with state.work(read_only=True) as work:
        require_admin(work.actor, what)


@storage_group.command("verify")
@click.option(
    "--quick",
    is_flag=True,
    help="Compare sizes only, instead of reading every blob to check its SHA-256.",
)
@click.option(
    "--grace",
    type=DURATION,
    default=f"{int(DEFAULT_GRACE.total_seconds() // 3600)}h",
    show_default=True,
    help="Blobs without a row count as orphans once this old (younger ones may belong to an "
    "upload in progress): 30m, 1h, 2d…",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Delete orphan blobs and carry out pending deletions (missing or damaged blobs "
    "cannot be repaired).",
)
@pass_cli
def verify(state: CliContext, quick: bool, grace: timedelta, repair: bool) -> None:
    """Check every attachment's blob, and look for blobs no attachment refers to.

    Exits with 0 when nothing is wrong (or everything found was repaired), 1 otherwise.
    """
    _require_admin(state, "verifying the storage")
    grc = state.ready()
    with progress_bar(state.out, "verifying attachments") as progress:
        report = verify_storage(
            grc.session,
            grc.backends,
            checksums=not quick,
            grace=grace,
            repair=repair,
            progress=progress,
        )
    state.out.emit(show_verify_report(state.out, report, repair=repair))
    if not report.ok:
        click.get_current_context().exit(ExitCode.GENERIC)


@storage_group.command("migrate")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="NAME",
    help="The configured backend to move every attachment to.",
)
@pass_cli
def migrate(state: CliContext, target: str) -> None:
    """Move every attachment to another backend, each copy checked by SHA-256.

    Safe to interrupt: run it again and it resumes.  Exits with 1 when an attachment could
    not be moved (the summary says why); those stay readable where they were.
    """
    _require_admin(state, "migrating the storage")
    grc = state.ready()
    _require_sources(state, target)
    with progress_bar(state.out, f"moving attachments to {target}") as progress:
        report = migrate_storage(grc.session, grc.backends, target, progress=progress)
    state.out.emit(show_migration_report(state.out, report))
    default = state.settings.storage_backend
    if default != target:
        # Migrating moves what exists; where new files go is the configuration's say.
        state.out.status(
            f'new attachments still go to {default!r}: set storage_backend = "{target}" in '
            f"the configuration file (or GRC_STORAGE_BACKEND={target}) to store them there"
        )
    if report.failed:
        click.get_current_context().exit(ExitCode.GENERIC)


def _require_sources(state: CliContext, target: str) -> None:
    """Refuse to start unless every backend holding attachments to move can be built: the
    migration would otherwise stop part-way, after moving some of them."""
    grc = state.ready()
    grc.backends.get(target)  # an unknown target is reported as such
    with state.session(read_only=True) as session:
        sources = session.scalars(
            select(Attachment.backend).where(Attachment.backend != target).distinct()
        ).all()
    for name in sorted(sources):
        try:
            grc.backends.get(name)
        except GrcError as exc:
            raise ConfigError(
                f"attachments are stored on the storage backend {name!r}, which cannot be used "
                f"here ({exc}); nothing was moved: configure [grc.storage.{name}] as it was "
                "when they were stored, then run the migration again"
            ) from exc


@storage_group.command("check")
@click.argument("name")
@pass_cli
def check(state: CliContext, name: str) -> None:
    """Check a configured backend: connect, write, read back, verify and delete a probe.

    Each step is reported as it ends; exits with 1 at the first failure (its message is
    the backend's own, secrets removed).
    """
    _require_admin(state, "checking a storage backend")
    results = []

    def report(step: CheckStep) -> None:
        results.append(step)
        if not state.out.json_output:
            mark = "ok" if step.ok else "FAILED"
            state.out.status(
                f"{step.name:<26} {mark:<6} {step.seconds * 1000:7.0f} ms  {step.detail}"
            )

    steps = check_backend(state.grc.backends, name, report=report)
    if not state.grc.scanners():
        warn("no virus scanner is active: attachments are stored unscanned (GRC_CLAMAV_ADDRESS)")
    if state.out.json_output:
        state.out.emit_data(
            {"backend": name, "ok": all(s.ok for s in steps),
             "steps": [{"name": s.name, "ok": s.ok, "seconds": round(s.seconds, 4),
                        "detail": s.detail} for s in steps]}
        )  # fmt: skip
    if not all(step.ok for step in steps) or len(steps) < 5:
        click.get_current_context().exit(ExitCode.GENERIC)


@storage_group.command("backends")
@pass_cli
def backends(state: CliContext) -> None:
    """List the storage backends plugins provide, and the configured ones."""
    shown = show_backends(state.out, state.registry.storage_backends(), state.settings)
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc storage`` to the root group."""
    cli.add_command(storage_group)
