"""The platform's command lines: subcommands declared once, and how every one ends (an expected
failure is one message, never a traceback)."""

from __future__ import annotations

import argparse
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from core.errors import PlatformError
from core.settings import Settings, load_settings

err = Console(stderr=True, soft_wrap=True)

# How the writers (the OS, SQLite, DuckDB) say that the disk is full.
OUT_OF_SPACE = ("No space left on device", "database or disk is full", "Disk quota exceeded")


@dataclass(frozen=True)
class Command:
    """A subcommand: what it runs (an int it returns is the exit code), its help line, its own arguments."""

    run: Callable[[Settings, argparse.Namespace], int | None]
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None


def command_parser(prog: str, description: str, commands: dict[str, Command]) -> argparse.ArgumentParser:
    """`prog [--project DIR] <command> ...`, one subparser per command."""
    root = argparse.ArgumentParser(prog=prog, description=description)
    root.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    sub = root.add_subparsers(dest="command", required=True)
    for name, command in commands.items():
        command.arguments(sub.add_parser(name, help=command.help))
    return root


def run_command(
    parser: argparse.ArgumentParser,
    commands: dict[str, Command],
    argv: list[str] | None,
    settings_for: Callable[[argparse.Namespace], Settings] = lambda args: load_settings(args.project),
) -> int:
    """Parse `argv`, load the settings and run the chosen command, guarded."""
    args = parser.parse_args(argv)
    return guarded(lambda: commands[args.command].run(settings_for(args), args))


def guarded(work: Callable[[], int | None]) -> int:
    """Run `work`; return its exit code (0 unless it returns one), printing PlatformError, a full disk
    and Ctrl-C as one line."""
    # s3fs's background tasks that died with a failing store are reported by asyncio at exit, with a
    # traceback, after the platform has already said what failed and where.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        code = work()
    except PlatformError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]")
        return 130
    except Exception as exc:
        cause = out_of_space(exc)
        if cause is None:
            raise
        err.print(
            f"[bold red]error:[/] out of disk space ({type(cause).__name__}: {str(cause).strip().splitlines()[0][:300]}). "
            "Free space on the data folder's disk and run again: what was published is unchanged, "
            "and the next run completes what this one started.",
            highlight=False,
        )
        return 1
    return code if isinstance(code, int) else 0


def out_of_space(exc: BaseException) -> BaseException | None:
    """The error in `exc`'s chain that says the disk is full, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
            text in str(current) for text in OUT_OF_SPACE
        ):
            return current
        current = current.__cause__ or current.__context__
    return None
