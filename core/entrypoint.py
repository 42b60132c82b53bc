"""The platform's command lines: subcommands declared once, and how every one ends (an expected
failure is one message, never a traceback)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from core import runlog
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
    # False for a run of the command that must write nothing (`doctor --check`): it then closes no orphaned run.
    writes: Callable[[argparse.Namespace], bool] = lambda args: True


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
    """Parse `argv`, load the settings and run the chosen command, guarded.

    Every command first marks the recorded runs whose process is gone (a kill -9, a power cut) as
    interrupted, so that no status shows work that is not running (but a command that writes nothing)."""
    args = parser.parse_args(argv)

    def work() -> int | None:
        settings = settings_for(args)
        command = commands[args.command]
        if command.writes(args):
            runlog.close_orphans(settings.meta_path)
        return command.run(settings, args)

    return guarded(work)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that locks and run records unwind."""


def _terminated(signum, frame) -> None:
    raise Terminated()


# What the platform writes (the lake, the warehouse, meta.db, logs, `.env`) holds personal data or
# secrets: new files are the owner's only (0600, folders 0700), and the services it starts inherit that.
PRIVATE_UMASK = 0o077


def private_files() -> None:
    """Make every file and folder this process (and its children) creates owner-only."""
    os.umask(PRIVATE_UMASK)


def guarded(work: Callable[[], int | None]) -> int:
    """Run `work`; return its exit code (0 unless it returns one), printing PlatformError, a full disk
    and Ctrl-C as one line. Files it creates are owner-only."""
    private_files()
    # s3fs's background tasks that died with a failing store are reported by asyncio at exit, with a
    # traceback, after the platform has already said what failed and where.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        code = work()
    except PlatformError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt as exc:
        err.print("[bold red]interrupted[/]" + (" (SIGTERM)" if isinstance(exc, Terminated) else ""))
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:
        message = expected_failure(exc)
        if message is None:
            raise
        err.print(f"[bold red]error:[/] {message}", highlight=False)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0


def expected_failure(exc: BaseException) -> str | None:
    """One paragraph for the failures that a user, not the code, can fix: a full disk, a data folder
    this user may not write, a damaged file. None for anything else (a bug: its traceback helps)."""
    cause = out_of_space(exc)
    if cause is not None:
        return (
            f"out of disk space ({type(cause).__name__}: {_first_line(cause)}). "
            "Free space on the data folder's disk and run again: what was published is unchanged, "
            "and the next run completes what this one started."
        )
    cause = _in_chain(exc, _is_read_only)
    if cause is not None:
        where = getattr(cause, "filename", None)
        return (
            f"cannot write {where or 'the data folder'} ({_first_line(cause)}). The data folder must be "
            "writable by the user running the platform: fix its owner or permissions (or set data_dir / "
            "PLATFORM__DATA_DIR to a writable folder) and run again."
        )
    cause = _in_chain(exc, lambda e: any(text in str(e) for text in DAMAGED))
    if cause is not None:
        return (
            f"a file is damaged ({_first_line(cause)}). `just doctor` finds every damaged file and says how "
            "to recover, and repairs it: a raw table is read again from its source (as `just reingest` does), "
            "a damaged warehouse is moved aside and rebuilt from the raw layer."
        )
    return None


# How DuckDB and SQLite say that a file is not what it should be (truncated, overwritten, half-written).
DAMAGED = (
    "No magic bytes found",
    "not a valid DuckDB database",
    "Corrupt",
    "corrupt",
    "file is not a database",
    "database disk image is malformed",
    "Invalid Input Error: File",
    "Could not read enough bytes",
    "is not a parquet file",
    "Failed to read file",
    "decompression failure",
)


def _is_read_only(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return True
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return True
    return "Permission denied" in str(exc) or "Read-only file system" in str(exc)


def _in_chain(exc: BaseException, test: Callable[[BaseException], bool]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if test(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def out_of_space(exc: BaseException) -> BaseException | None:
    """The error in `exc`'s chain that says the disk is full, if any."""
    return _in_chain(
        exc,
        lambda e: (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or any(text in str(e) for text in OUT_OF_SPACE),
    )
