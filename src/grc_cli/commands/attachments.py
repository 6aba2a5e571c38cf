"""``grc attachment``: attach files to exchanges, companies and opportunities, fetch them back.

Files are streamed in both directions, never read whole: ``add`` hands the open file to the
attachment service (which spools, checks and checksums it chunk by chunk), ``fetch`` copies
the backend's stream to a temporary file next to the target and renames it once complete and
checksum-verified, so an interrupted fetch never leaves a truncated file under the real name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypedDict, cast

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.failures import CliFailure, ExitCode, failure_for
from grc_cli.output import attachment_data, human_size, show_attachments, show_policy
from grc_cli.params import SIZE
from grc_core.backends import Backends
from grc_core.errors import GrcError
from grc_core.facade import Work
from grc_core.services import attachments, companies, exchanges, opportunities
from grc_core.storage.backend import CHUNK_SIZE

STDIN_STDOUT = "-"
#: Prefix of the temporary file ``fetch`` writes before renaming it (hidden on Unix).
PARTIAL_PREFIX = ".grc-fetch-"

# Errors meaning "no hard links on this file system" (FAT, some network mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@click.group("attachment")
def attachment_group() -> None:
    """Attach files to exchanges, companies and opportunities; list, fetch and delete them."""


def _owner_options(action: str) -> Decorator:
    """``--exchange``, ``--company`` and ``--opportunity``: exactly one is required."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for kind in ("opportunity", "company", "exchange"):
            func = click.option(
                f"--{kind}",
                f"{kind}_id",
                metavar="ID",
                type=int,
                help=f"{action} this {kind}.",
            )(func)
        return func

    return apply


class _Owner(TypedDict, total=False):
    """The one keyword naming an attachment's owner in the attachments service."""

    exchange_id: int
    company_id: int
    opportunity_id: int


def _owner(exchange_id: int | None, company_id: int | None, opportunity_id: int | None) -> _Owner:
    given = [i for i in (exchange_id, company_id, opportunity_id) if i is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --exchange, --company or --opportunity")
    if exchange_id is not None:
        return {"exchange_id": exchange_id}
    if company_id is not None:
        return {"company_id": company_id}
    return {"opportunity_id": given[0]}


def _check_owner(work: Work, owner: _Owner) -> None:
    """Report an unknown (or invisible) record as not found, rather than "no attachments"."""
    if "exchange_id" in owner:
        exchanges.get_exchange(work.session, work.actor, owner["exchange_id"])
    elif "company_id" in owner:
        companies.get_company(work.session, owner["company_id"])
    else:
        opportunities.get_opportunity(work.session, owner["opportunity_id"])


# -- add -----------------------------------------------------------------------------------


@attachment_group.command("add")
@click.argument(
    "files",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
)
@_owner_options("Attach to")
@click.option("--name", metavar="NAME", help="The file's name (required to read stdin, '-').")
@pass_cli
def add(
    state: CliContext,
    files: tuple[str, ...],
    exchange_id: int | None,
    company_id: int | None,
    opportunity_id: int | None,
    name: str | None,
) -> None:
    """Attach files to one exchange, company or opportunity.

    Each file is checked (name, size, type, content) and attached in its own transaction:
    when one is refused the command stops there with its reason, and the files attached
    before it stay attached (the error line names them).
    """
    owner = _owner(exchange_id, company_id, opportunity_id)
    if STDIN_STDOUT in files and (len(files) != 1 or name is None):
        raise click.UsageError("'-' (stdin) must be the only FILE and needs --name NAME")
    if name is not None and len(files) != 1:
        raise click.UsageError("--name renames one file; give a single FILE")

    state.acting_login()
    grc = state.ready()
    backends, scanners = grc.backends, grc.scanners()
    # Built now, so that a misconfigured backend is reported as such, not as the first
    # file's fault.
    backends.default  # noqa: B018
    attached: list[dict[str, Any]] = []
    for number, path in enumerate(files):
        display = name or Path(path).name
        try:
            # click.open_file reads stdin for "-" and never closes it (click 8.5 deprecates
            # get_binary_stream in its favour).
            with click.open_file(path, "rb") as stream, state.work() as work:
                attachment = attachments.attach(
                    work.session,
                    work.actor,
                    backends,
                    cast(BinaryIO, stream),
                    display,
                    scanners=scanners,
                    **owner,
                )
                attached.append(attachment_data(attachment, state.out.zone))
        except (GrcError, OSError) as exc:
            failure = failure_for(exc)
            if failure is None:  # pragma: no cover - both kinds always have one
                raise
            if attached:
                # Scripts still learn the ids of what was stored before the refusal.
                state.out.emit(show_attachments(state.out, attached))
            raise CliFailure(
                _stopped_at(display, failure.format_message(), attached, files[number:]),
                failure.exit_code,
            ) from exc
    state.out.status(
        f"attached {len(attached)} file{'s' if len(attached) != 1 else ''} to {_describe(owner)}"
    )
    state.out.emit(show_attachments(state.out, attached))


def _describe(owner: _Owner) -> str:
    ((key, ident),) = owner.items()
    return f"{key.removesuffix('_id')} {ident}"


def _stopped_at(
    display: str, reason: str, attached: list[dict[str, Any]], left: tuple[str, ...]
) -> str:
    """The one-line error of a refused file, saying what was and was not attached."""
    message = f"{display}: {reason}"
    if attached:
        done = ", ".join(f"{a['name']} (attachment {a['id']})" for a in attached)
        message += f"; attached before it: {done}"
    if len(attached) + len(left) > 1:
        message += f"; not attached: {', '.join(Path(p).name for p in left)}"
    return message


# -- list ----------------------------------------------------------------------------------


@attachment_group.command("list")
@_owner_options("The files of")
@pass_cli
def list_(
    state: CliContext,
    exchange_id: int | None,
    company_id: int | None,
    opportunity_id: int | None,
) -> None:
    """List the files attached to one exchange, company or opportunity, oldest first."""
    owner = _owner(exchange_id, company_id, opportunity_id)
    with state.work(read_only=True) as work:
        _check_owner(work, owner)
        found = attachments.list_attachments(work.session, work.actor, **owner)
        shown = show_attachments(state.out, [attachment_data(a, state.out.zone) for a in found])
    state.out.emit(shown)


# -- fetch ---------------------------------------------------------------------------------


class _Checked:
    """The chunks of a stream, with their size and SHA-256 compared to the recorded ones."""

    def __init__(self, stream: BinaryIO, info: dict[str, Any]) -> None:
        self.stream = stream
        self.info = info
        self.size = 0
        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        with self.stream:
            while chunk := self.stream.read(CHUNK_SIZE):
                self.size += len(chunk)
                self.sha256.update(chunk)
                yield chunk

    def verify(self, *, written: bool) -> None:
        """Refuse content that is not what was attached (the blob was damaged in storage)."""
        if self.size == self.info["size"] and self.sha256.hexdigest() == self.info["sha256"]:
            return
        outcome = "it was written anyway" if written else "nothing was written"
        raise CliFailure(
            f"attachment {self.info['id']}: the stored content does not match its recorded "
            f"size and SHA-256 ({self.size} bytes read, {self.info['size']} expected); "
            f"{outcome}; an administrator should run `grc storage verify`",
            ExitCode.GENERIC,
        )


def _target(output: str | None, info: dict[str, Any]) -> Path:
    """Where to write: ``-o FILE``, ``-o DIR/`` + the display name, or ./display name."""
    name: str = info["name"]
    if Path(name).name != name or name in ("", ".", ".."):
        # Display names are checked when attached; this only guards against old rows.
        name = f"attachment-{info['id']}.{info['extension']}"
    if output is None:
        return Path.cwd() / name
    path = Path(output)
    return path / name if path.is_dir() else path


def _publish(partial: Path, target: Path, *, force: bool) -> None:
    """Give the complete file its name: replacing only with ``force``, atomically either way."""
    if force:
        os.replace(partial, target)
        return
    try:
        # link() fails if the target exists, where rename() would silently replace it.
        os.link(partial, target)
        return
    except FileExistsError:
        raise _exists(target) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    if target.exists():  # pragma: no cover - file systems without hard links only
        raise _exists(target)
    os.replace(partial, target)  # pragma: no cover


def _exists(target: Path) -> CliFailure:
    return CliFailure(f"{target} already exists; give --force to replace it", ExitCode.CONFLICT)


def _write_file(content: _Checked, target: Path, *, force: bool) -> None:
    directory = target.parent
    if not directory.is_dir():
        raise CliFailure(f"the folder {directory} does not exist", ExitCode.USAGE)
    if target.exists() and not force:
        # Checked before reading anything; _publish checks again, atomically.
        raise _exists(target)
    # In the target's folder, so that the final rename stays on one file system.
    fd, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=".part", dir=directory)
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in content:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        content.verify(written=False)
        _publish(partial, target, force=force)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


@attachment_group.command("fetch")
@click.argument("attachment_id", metavar="ID", type=int)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    type=click.Path(allow_dash=True),
    help="Write to FILE (or into the folder FILE), or to stdout with '-' "
    "(default: the attachment's name, in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_cli
def fetch(state: CliContext, attachment_id: int, output: str | None, force: bool) -> None:
    """Save an attachment's content to a file, or write it to stdout."""
    with state.work(read_only=True) as work:
        attachment, stream = attachments.open_attachment(
            work.session, work.actor, state.grc.backends, attachment_id
        )
        info = attachment_data(attachment, state.out.zone)
    # Streamed once the transaction is over: no connection is held while the bytes flow.
    content = _Checked(stream, info)
    if output == STDIN_STDOUT:
        with click.open_file(STDIN_STDOUT, "wb") as sink:  # binary stdout, left open
            for chunk in content:
                sink.write(chunk)
            sink.flush()
        content.verify(written=True)
        return
    target = _target(output, info)
    try:
        _write_file(content, target, force=force)
    finally:
        stream.close()  # when refused before reading, the stream was never consumed
    state.out.status(f"saved attachment {attachment_id} to {target} ({human_size(info['size'])})")
    state.out.emit_data({"fetched": {**info, "path": str(target)}})


# -- delete --------------------------------------------------------------------------------


@attachment_group.command("delete")
@click.argument("attachment_id", metavar="ID", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def delete(state: CliContext, attachment_id: int, yes: bool) -> None:
    """Delete an attachment; its stored file is removed once the deletion is committed."""
    # Looked up in its own transaction: no lock is held while the question waits.
    with state.work(read_only=True) as work:
        info = attachment_data(
            attachments.get_attachment(work.session, work.actor, attachment_id), state.out.zone
        )
    if not yes:
        click.confirm(
            f"Delete attachment {attachment_id} ({info['name']!r})?", abort=True, err=True
        )
    backends: Backends = state.grc.backends
    with state.work() as work:
        attachments.delete_attachment(work.session, work.actor, backends, attachment_id)
    state.out.status(f"deleted attachment {attachment_id} ({info['name']})")
    state.out.emit_data({"deleted": info})


# -- policy --------------------------------------------------------------------------------


@attachment_group.group("policy")
def policy_group() -> None:
    """Show or change what may be attached (changing it needs an administrator)."""


@policy_group.command("show")
@pass_cli
def policy_show(state: CliContext) -> None:
    """Show the attachment policy."""
    scanners = [scanner.name for scanner in state.grc.scanners()]
    with state.session(read_only=True) as session:
        shown = show_policy(state.out, attachments.get_policy(session), scanners)
    state.out.emit(shown)


def _extensions(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


@policy_group.command("set")
@click.option("--max-size", type=SIZE, help="Largest file accepted: 20MB, 512KB, 1GB…")
@click.option(
    "--extensions",
    metavar="EXT,EXT…",
    help="The accepted extensions, comma-separated (replaces the list): pdf,jpg,docx.",
)
@click.option(
    "--allow-macros/--no-macros",
    default=None,
    help="Accept macro-enabled Office files (docm, xlsm, pptm) or not.",
)
@click.option(
    "--zip-max-entries", type=int, metavar="N", help="Most entries an Office file may have."
)
@click.option(
    "--zip-max-uncompressed",
    type=SIZE,
    help="Largest uncompressed size of an Office file's content: 200MB…",
)
@click.option("--zip-max-ratio", type=int, metavar="N", help="Most a large entry may inflate.")
@click.option("--allow-nested-archives/--no-nested-archives", default=None)
@click.option("--allow-active-pdf/--no-active-pdf", default=None)
@click.option("--max-image-pixels", type=int, metavar="N", help="Most pixels of an image.")
@click.option("--scanning", type=click.Choice(["required", "optional", "off"]), default=None)
@click.option(
    "--strip-image-metadata", type=click.Choice(["always", "mobile", "never"]), default=None
)
@pass_cli
def policy_set(
    state: CliContext,
    /,  # pass_cli hands the context positionally; its type says so
    max_size: int | None,
    extensions: str | None,
    allow_macros: bool | None,
    zip_max_entries: int | None,
    zip_max_uncompressed: int | None,
    **rules: Any,
) -> None:
    """Change the attachment policy; the settings not given stay as they are."""
    allowed = _extensions(extensions)
    given = (max_size, allowed, allow_macros, zip_max_entries, zip_max_uncompressed)
    if all(value is None for value in (*given, *rules.values())):
        raise click.UsageError("nothing to change: give at least one option")
    with state.work() as work:
        policy = attachments.set_policy(
            work.session,
            work.actor,
            max_size=max_size,
            allowed_extensions=allowed,
            allow_macros=allow_macros,
            zip_max_entries=zip_max_entries,
            zip_max_uncompressed=zip_max_uncompressed,
            **rules,
        )
        shown = show_policy(state.out, policy)
    state.out.status("updated the attachment policy")
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc attachment`` to the root group."""
    cli.add_command(attachment_group)
