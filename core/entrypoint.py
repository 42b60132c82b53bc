"""How every command line of the platform ends: an expected failure is one message, never a traceback."""

from __future__ import annotations

import errno
import logging
from typing import Callable

from rich.console import Console

from core.errors import PlatformError

err = Console(stderr=True, soft_wrap=True)

# How the writers (the OS, SQLite, DuckDB) say that the disk is full.
OUT_OF_SPACE = ("No space left on device", "database or disk is full", "Disk quota exceeded")


def guarded(work: Callable[[], None]) -> int:
    """Run `work`; return the exit code, printing PlatformError, a full disk and Ctrl-C as one line."""
    # s3fs's background tasks that died with a failing store are reported by asyncio at exit, with a
    # traceback, after the platform has already said what failed and where.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        work()
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
    return 0


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
