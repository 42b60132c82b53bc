"""How every command line of the platform ends: an expected failure is one message, never a traceback."""

from __future__ import annotations

from typing import Callable

from rich.console import Console

from core.errors import PlatformError

err = Console(stderr=True, soft_wrap=True)


def guarded(work: Callable[[], None]) -> int:
    """Run `work`; return the exit code, printing PlatformError and Ctrl-C as one line."""
    try:
        work()
    except PlatformError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]")
        return 130
    return 0
