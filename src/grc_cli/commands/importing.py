"""``grc import exchanges``: exchanges from a CSV or JSON Lines file (administrators).

By default the whole file is imported in one transaction: a bad line (or any failure)
leaves the database as it was, and the error names the line and the field.  With
``--reject FILE`` the bad lines go to that file and the good ones are imported, a batch
committed at a time.  ``--dry-run`` checks every line and reports each bad one, writing
nothing.  Exchanges with a ``uuid`` are imported once: running the same file again skips
those already there (which is also how a stopped import resumes).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy import select

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import progress_bar
from grc_core.errors import DatabaseError, ValidationError
from grc_core.models import Exchange
from grc_core.services.bulk import (
    ExchangeRecord,
    FileResolver,
    ImportLineError,
    ImportReport,
    RecordChecker,
    import_exchanges,
)
from grc_core.services.import_mappings import MAPPINGS, ColumnMapping, mapping
from grc_core.services.users import require_admin
from grc_core.timeutil import zone

FORMATS = ("csv", "jsonl")

#: One line of the file: its number, its fields (or, when it cannot be read as fields, its
#: CSV values or its text) and the problem that stops it becoming fields.
_Line = tuple[int, Any, ImportLineError | None]


class _ImportGroup(click.Group):
    """``grc import FILE`` (the form before subcommands) runs ``grc import exchanges FILE``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Anything but a subcommand or an option is a file (a missing one is then refused
        # as a missing file, not as an unknown command).
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["exchanges", *args]
        return super().parse_args(ctx, args)


@click.group("import", cls=_ImportGroup)
def import_group() -> None:
    """Import records from another CRM's export (administrators).

    "grc import FILE" is "grc import exchanges FILE".  See docs/cli.md.
    """


@import_group.command("exchanges")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="csv (a header line naming the fields) or jsonl (one JSON object a line); "
    "default: from the file's extension (.csv, .jsonl or .ndjson).",
)
@click.option(
    "--mapping",
    "mapping_name",
    type=click.Choice(tuple(MAPPINGS)),
    default="generic",
    show_default=True,
    help="The file's field names: generic (GRC's own) or sage (a Sage CRM communications export).",
)
@click.option(
    "--delimiter",
    default=",",
    show_default=True,
    help="CSV field separator (one character; ';' for a French spreadsheet).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 50_000),
    default=5000,
    show_default=True,
    help="Exchanges checked and written together.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every line and report each bad one by its number, then write nothing.",
)
# The option's name before --dry-run, kept for the scripts that use it.
@click.option("--check", is_flag=True, hidden=True)
@click.option(
    "--reject",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the bad lines to this file (with an error column) and import the good "
    "ones, committing each batch: run the same command again to resume a stopped import.",
)
@pass_cli
def exchanges_command(
    state: CliContext,
    file: Path,
    fmt: str | None,
    mapping_name: str,
    delimiter: str,
    batch_size: int,
    dry_run: bool,
    check: bool,
    reject: Path | None,
) -> None:
    """Import exchanges from a CSV or JSON Lines file.

    For administrators.  Fields: subject, start and action are required; author (a login)
    or author_ref too.  Companies by name (company) or external reference (company_ref);
    opportunities by title and contacts by full name within the company, or by reference;
    several values separated by ';' in CSV.  Date-times without an offset are in --tz.
    Lines with a uuid already in the database are skipped.  Without --reject, all or
    nothing.  See docs/cli.md.
    """
    dry_run = dry_run or check
    fmt = fmt or _format_of(file)
    if len(delimiter) != 1:
        raise click.BadParameter("one character", param_hint="--delimiter")
    if reject is not None and reject.resolve() == file.resolve():
        raise click.BadParameter(
            "the reject file cannot be the file imported", param_hint="--reject"
        )
    mapper = mapping(mapping_name)
    total = _count_lines(file) - (1 if fmt == "csv" else 0)
    refused: list[ImportLineError] = []
    header: list[str] = []  # a CSV file's, once read
    with (
        progress_bar(state.out, f"importing {file.name}") as progress,
        file.open("rb") as raw,
    ):
        stream = _decoded(raw)
        lines = (
            _csv_lines(stream, delimiter, mapper, header) if fmt == "csv" else _json_lines(stream)
        )
        if not dry_run and reject is None:
            report = _import_all(state, lines, mapper, batch_size, progress, total)
        else:
            with _Rejects(reject, fmt, header) as rejects:
                if dry_run:
                    report = _check_all(state, lines, mapper, refused, rejects)
                else:
                    report = _import_by_batch(
                        state, lines, mapper, refused, rejects, batch_size, progress, total
                    )
    _report(state, dry_run, report, refused, reject)


def _import_all(
    state: CliContext,
    lines: Iterator[_Line],
    mapper: ColumnMapping,
    batch_size: int,
    progress: Callable[[int, int, int], None],
    total: int,
) -> ImportReport:
    """Every line, in one transaction: the first bad line stops the import, and nothing
    of it is kept."""
    with state.work() as work:
        resolver = FileResolver(work.session, zone(state.settings.timezone))
        records = (
            resolver.record(line, mapper.fields(line, _fields(fields, problem)))
            for line, fields, problem in lines
        )
        return import_exchanges(
            work.session,
            work.actor,
            records,
            batch_size=batch_size,
            progress=lambda done: progress(done, max(done, total), 0),
            # The records come from the file and the resolver's tables only.
            read_ahead=True,
        )


def _check_all(
    state: CliContext,
    lines: Iterator[_Line],
    mapper: ColumnMapping,
    refused: list[ImportLineError],
    rejects: _Rejects,
) -> ImportReport:
    """What importing would do (``imported``: would import), every line checked; nothing
    is written."""
    with state.work(read_only=True) as work:
        require_admin(work.actor, "importing exchanges")
        resolver = FileResolver(work.session, zone(state.settings.timezone))
        checker = RecordChecker(work.session)
        counted = _Counted(_checked(lines, resolver, checker, mapper, refused, rejects))
        skipped = _already_imported(work.session, counted)
    return ImportReport(imported=counted.count - skipped, skipped=skipped)


def _import_by_batch(
    state: CliContext,
    lines: Iterator[_Line],
    mapper: ColumnMapping,
    refused: list[ImportLineError],
    rejects: _Rejects,
    batch_size: int,
    progress: Callable[[int, int, int], None],
    total: int,
) -> ImportReport:
    """The good lines, a transaction a batch: an import stopped midway keeps the batches
    before, and the same command resumes it (the lines whose uuid is there are skipped)."""
    with state.work(read_only=True) as work:
        require_admin(work.actor, "importing exchanges")
        # Both hold ids, names and codes only: they serve every batch's transaction.
        resolver = FileResolver(work.session, zone(state.settings.timezone))
        checker = RecordChecker(work.session)
    good = _checked(lines, resolver, checker, mapper, refused, rejects)
    done = ImportReport()
    while batch := list(islice(good, batch_size)):
        try:
            with state.work() as work:
                report = import_exchanges(work.session, work.actor, batch, batch_size=batch_size)
        except DatabaseError as exc:
            cause = getattr(exc.__cause__, "orig", None) or exc
            raise DatabaseError(
                f"the import stopped after {done.imported:,} exchanges because the database "
                f"failed ({str(cause).strip()}); those are kept (each batch is committed): "
                "run the same command again to resume"
            ) from exc
        done.imported += report.imported
        done.skipped += report.skipped
        if report.first_id is not None:
            done.first_id = done.first_id if done.first_id is not None else report.first_id
            done.last_id = report.last_id
        seen = done.imported + done.skipped + len(refused)
        progress(seen, max(seen, total), 0)
    return done


def _report(
    state: CliContext,
    dry_run: bool,
    report: ImportReport,
    refused: list[ImportLineError],
    reject: Path | None,
) -> None:
    if dry_run and not state.out.json_output:
        for problem in refused:  # the report, by line number
            click.echo(f"refused: {problem}")
    if dry_run and refused and reject is None:
        raise ValidationError(
            f"{refused[0]} ({len(refused):,} lines refused in all; nothing written)",
            field=refused[0].field,
        )
    data = {
        "imported": 0 if dry_run else report.imported,
        "would_import": report.imported if dry_run else None,
        "skipped": report.skipped,
        "refused": len(refused) if (dry_run or reject is not None) else None,
        "first_id": report.first_id,
        "last_id": report.last_id,
    }
    if state.out.json_output:
        state.out.emit_data({k: v for k, v in data.items() if v is not None})
        return
    said = f"; {report.skipped:,} already imported, skipped" if report.skipped else ""
    if refused:
        said += f"; {len(refused):,} lines refused" + (f", written to {reject}" if reject else "")
    if dry_run:
        click.echo(f"checked: {report.imported:,} exchanges would be imported{said}")
    else:
        click.echo(f"imported {report.imported:,} exchanges{said}")


def _fields(fields: Any, problem: ImportLineError | None) -> Mapping[str, Any]:
    if problem is not None:
        raise problem
    return fields  # type: ignore[no-any-return]


def _checked(
    lines: Iterable[_Line],
    resolver: FileResolver,
    checker: RecordChecker,
    mapper: ColumnMapping,
    refused: list[ImportLineError],
    rejects: _Rejects,
) -> Iterator[ExchangeRecord]:
    """The records of the lines that pass every check; the others go to ``refused`` and to
    the reject file."""
    for line, fields, problem in lines:
        try:
            record = resolver.record(line, mapper.fields(line, _fields(fields, problem)))
            checker.check(record)
        except ImportLineError as exc:
            refused.append(exc)
            rejects.write(fields, exc)
            continue
        yield record


class _Counted:
    """The records of an iterable, counted as they pass."""

    def __init__(self, records: Iterable[ExchangeRecord]) -> None:
        self.records = records
        self.count = 0

    def __iter__(self) -> Iterator[ExchangeRecord]:
        for record in self.records:
            self.count += 1
            yield record


def _already_imported(session: Any, records: Iterable[ExchangeRecord]) -> int:
    """How many of ``records`` have a uuid already in the database (a dry run's skips)."""
    found, chunk = 0, []
    for record in records:
        if record.uuid is not None:
            chunk.append(record.uuid)
        if len(chunk) == 1000:
            found += _present(session, chunk)
            chunk = []
    return found + (_present(session, chunk) if chunk else 0)


def _present(session: Any, uuids: list[Any]) -> int:
    return len(session.scalars(select(Exchange.id).where(Exchange.uuid.in_(uuids))).all())


class _Rejects:
    """The reject file: the bad lines as they were, with an ``error`` column (CSV) or key
    (JSON Lines) naming the line, the field and the problem.  Written even when empty, so
    that a rerun does not leave the rejects of a previous run in place."""

    def __init__(self, path: Path | None, fmt: str, header: list[str]) -> None:
        self.path = path
        self.fmt = fmt
        self.header = header  # filled by the CSV reader once it has read the header
        self._file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> _Rejects:
        if self.path is not None:
            self._file = self.path.open("w", encoding="utf-8", newline="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            if self.fmt == "csv" and self._csv is None:
                csv.writer(self._file).writerow([*self.header, "error"])
            self._file.close()

    def write(self, fields: Any, problem: ImportLineError) -> None:
        if self._file is None:
            return
        if self.fmt == "jsonl":
            data = {**fields} if isinstance(fields, dict) else {"text": str(fields).rstrip("\n")}
            self._file.write(json.dumps({**data, "error": str(problem)}, ensure_ascii=False) + "\n")
            return
        if self._csv is None:
            self._csv = csv.writer(self._file)
            self._csv.writerow([*self.header, "error"])
        values = [fields.get(n, "") for n in self.header] if isinstance(fields, dict) else fields
        self._csv.writerow([*values, str(problem)])


def _format_of(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise click.BadParameter(
        f"cannot tell the format of {file.name!r}: pass --format csv or --format jsonl",
        param_hint="FILE",
    )


def _count_lines(file: Path) -> int:
    # For the progress bar only (a CSV field may hold line breaks): cheap, a few ms a MB.
    with file.open("rb") as raw:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))


def _decoded(raw: IO[bytes]) -> Iterator[str]:
    """The lines of ``raw`` as text, a byte-order mark dropped; a line that is not UTF-8 is
    refused by its number (a spreadsheet's export in Windows-1252, say)."""
    for number, data in enumerate(raw, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportLineError(
                number,
                "*",
                f"not UTF-8 text (byte {data[exc.start]:#04x}): save the file as UTF-8",
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _csv_lines(
    stream: Iterator[str], delimiter: str, mapper: ColumnMapping, header: list[str]
) -> Iterator[_Line]:
    """Each CSV record; the header names the fields (and is copied into ``header``).  A
    record with the wrong number of values comes as its values, with its problem."""
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    try:
        first = next(reader, None)
        if first is None:
            return
        names = [name.strip() for name in first]
        mapper.check_header(names)
        header.extend(names)
        width = len(names)
        line = reader.line_num + 1
        for values in reader:
            if values:
                if len(values) != width:
                    problem = ImportLineError(
                        line, "*", f"{len(values)} values for the header's {width} fields"
                    )
                    yield line, values, problem
                else:
                    yield line, dict(zip(names, values, strict=True)), None
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportLineError(reader.line_num, "*", f"malformed CSV ({exc})") from None


def _json_lines(stream: Iterator[str]) -> Iterator[_Line]:
    """Each non-blank line of a JSON Lines file; one that is not a JSON object comes as its
    text, with its problem."""
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, text, ImportLineError(line, "*", f"not JSON ({exc.msg})")
            continue
        if not isinstance(fields, dict):
            yield line, text, ImportLineError(line, "*", "each line must be a JSON object")
            continue
        yield line, fields, None


def register(group: click.Group) -> None:
    """Add ``import`` (and its ``exchanges``) to the root group."""
    group.add_command(import_group)
