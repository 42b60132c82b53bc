"""One run's shared handles: its settings and its lake, built once by the entry point.

The composition root (`just run`, each scheduler job in its worker, `just trigger`, the recovery
commands, the bench) calls `open_run` once and passes the context down to the stage functions
(the data API builds its lake once at start-up). A function that reads or writes the lake takes
the context where it would take the settings, so one run builds one lake (on S3: one filesystem
client) instead of one per stop. The metadata store is the settings' `meta_path`, a SQLite file
each record opens and closes (core/metastore.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.lake import Lake
from core.settings import Settings


@dataclass(frozen=True)
class RunContext:
    """The settings of a run and the lake they describe."""

    settings: Settings
    lake: Lake


def open_run(settings: Settings) -> RunContext:
    """The context of one run (or of one long-lived reader) on these settings."""
    return RunContext(settings=settings, lake=Lake(settings))
