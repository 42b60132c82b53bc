"""One run's shared handles: its settings, its lake and its metadata store, built once by the entry point.

The composition root (`just run`, each scheduler job in its worker, `just trigger`, the recovery
commands, the bench) calls `open_run` once and passes the context down to the stage functions;
long-lived readers (the data API, the app) build theirs once at start-up. A function that reads or
writes the lake takes the context where it would take the settings, so one run builds one lake
(on S3: one filesystem client) instead of one per stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.lake import Lake
from core.settings import Settings


@dataclass(frozen=True)
class RunContext:
    """The settings of a run, the lake they describe, and the metadata store's file."""

    settings: Settings
    lake: Lake

    @property
    def meta_path(self) -> Path:
        return self.settings.meta_path


def open_run(settings: Settings) -> RunContext:
    """The context of one run (or of one long-lived reader) on these settings."""
    return RunContext(settings=settings, lake=Lake(settings))
