"""Ingest commands: list quarantined rows, replay a fixed file (`python -m ingest.cli --help`)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from core.entrypoint import Command, command_parser, run_command
from core.settings import Settings

out = Console(soft_wrap=True)  # one line per row, for grep


def cmd_quarantine(settings: Settings, args: argparse.Namespace) -> None:
    """Print the quarantined rows with where they came from and why they were refused."""
    from ingest.landing import rejected_files
    from ingest.quarantine import quarantined_rows

    rows = quarantined_rows(settings, args.source, args.table, args.file, args.limit)
    refused = [
        f
        for f in rejected_files(settings.meta_path, args.source)
        if (args.table is None or f.table == args.table) and (args.file is None or f.path == args.file)
    ]
    if refused:
        out.print("Rejected files (none of their rows loaded; `just replay <source> <file>` once fixed):", highlight=False)
        for f in refused:
            out.print(f"{f.source}.{f.table}  {f.path}  rejected: {f.reason}  {f.load_id}", highlight=False)
    if not rows:
        out.print("No quarantined rows.")
        return
    out.print(
        f"Quarantined rows, newest loads first (at most {args.limit}): source.table  file:line  check  column  value  load", highlight=False
    )
    for row in rows:
        place = f"{row.source_file}:{row.line or '?'}" if row.source_file else "-"
        value = "-" if row.failure is None else repr(row.failure[:60])
        out.print(f"{row.source}.{row.table}  {place}  {row.check}  {row.column or '-'}  {value}  {row.load_id}", highlight=False)
    out.print("Every failed check of a row is in its `_failures` column; the rows are in lake://raw/<source>/_quarantine/<table>/.")


def cmd_replay(settings: Settings, args: argparse.Namespace) -> None:
    """Take a landed file again, now, and print what loaded."""
    from ingest.replay import replay_file

    result = replay_file(settings, args.source, args.file)
    loaded = ", ".join(f"{table} {count:,}" for table, count in result.rows.items()) or "nothing"
    out.print(f"Replayed {args.source}: {args.file}; loaded {loaded}")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")


def _quarantine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", help="one declared source (default: all)")
    parser.add_argument("--table", help="one table of it")
    parser.add_argument("--file", help="one landed file, as a path in the source's landing area")
    parser.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a file-drop source")
    parser.add_argument("file", help="the file, as a path in the source's landing area, e.g. orders/2025-03-01.csv")


COMMANDS = {
    "quarantine": Command(cmd_quarantine, "list rejected files and quarantined rows with file, line and reason", _quarantine_arguments),
    "replay": Command(cmd_replay, "take a fixed landed file again", _replay_arguments),
}


def main(argv: list[str] | None = None) -> int:
    return run_command(command_parser("ingest", "Ingestion: quarantine and replay.", COMMANDS), COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
