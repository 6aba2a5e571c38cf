"""``grc import``: exchanges from a CSV or JSON Lines file (administrators).

The whole file is imported in one transaction: a bad line (or any failure) leaves the
database as it was, and the error names the line and the field.  Exchanges with a ``uuid``
are imported once: running the same file again skips those already there.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import progress_bar
from grc_core.services.bulk import FILE_FIELDS, FileResolver, ImportLineError, import_exchanges
from grc_core.timeutil import zone

FORMATS = ("csv", "jsonl")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="csv (a header line naming the fields) or jsonl (one JSON object a line); "
    "default: from the file's extension (.csv, .jsonl or .ndjson).",
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
    "--check",
    is_flag=True,
    help="Check every line and report what would be imported, then write nothing.",
)
@pass_cli
def import_command(
    state: CliContext, file: Path, fmt: str | None, delimiter: str, batch_size: int, check: bool
) -> None:
    """Import exchanges from a CSV or JSON Lines file, all or nothing.

    For administrators.  Fields: subject, start and action are required; author (a login)
    or author_ref too.  Companies by name (company) or external reference (company_ref);
    opportunities by title and contacts by full name within the company, or by reference;
    several values separated by ';' in CSV.  Date-times without an offset are in --tz.
    Lines with a uuid already in the database are skipped.  See docs/cli.md.
    """
    fmt = fmt or _format_of(file)
    if len(delimiter) != 1:
        raise click.BadParameter("one character", param_hint="--delimiter")
    total = _count_lines(file) - (1 if fmt == "csv" else 0)
    with (
        state.work() as work,
        progress_bar(state.out, f"importing {file.name}") as progress,
    ):
        resolver = FileResolver(work.session, zone(state.settings.timezone))
        with file.open("rb") as raw:
            stream = _decoded(raw)
            lines = _csv_lines(stream, delimiter) if fmt == "csv" else _json_lines(stream)
            records = (resolver.record(line, fields) for line, fields in lines)
            report = import_exchanges(
                work.session,
                work.actor,
                records,
                batch_size=batch_size,
                progress=lambda done: progress(done, max(done, total), 0),
                # The records come from the file and the resolver's tables only.
                read_ahead=True,
            )
        if check:
            work.session.rollback()
    data = {
        "imported": 0 if check else report.imported,
        "would_import": report.imported if check else None,
        "skipped": report.skipped,
        "first_id": None if check else report.first_id,
        "last_id": None if check else report.last_id,
    }
    if state.out.json_output:
        state.out.emit_data({k: v for k, v in data.items() if v is not None})
        return
    skipped = f"; {report.skipped:,} already imported, skipped" if report.skipped else ""
    if check:
        click.echo(f"checked: {report.imported:,} exchanges would be imported{skipped}")
    else:
        click.echo(f"imported {report.imported:,} exchanges{skipped}")


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


def _csv_lines(stream: Iterator[str], delimiter: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, fields) of each CSV record; the header names the fields."""
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        for name in names:
            if name not in FILE_FIELDS:
                raise ImportLineError(
                    1, name or "(empty)", f"unknown field; the fields are {', '.join(FILE_FIELDS)}"
                )
        width = len(names)
        line = reader.line_num + 1
        for values in reader:
            if values:
                if len(values) != width:
                    raise ImportLineError(
                        line, "*", f"{len(values)} values for the header's {width} fields"
                    )
                yield line, dict(zip(names, values, strict=True))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportLineError(reader.line_num, "*", f"malformed CSV ({exc})") from None


def _json_lines(stream: Iterator[str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, object) of each non-blank line of a JSON Lines file."""
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportLineError(line, "*", f"not JSON ({exc.msg})") from None
        if not isinstance(fields, dict):
            raise ImportLineError(line, "*", "each line must be a JSON object")
        yield line, fields


def register(group: click.Group) -> None:
    """Add ``import`` to the root group."""
    group.add_command(import_command)
