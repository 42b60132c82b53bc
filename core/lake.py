"""The lake's layout: `lake://<layer>/<source>/<table>/...` mapped onto a storage backend.

Only this module knows where a layer physically lives, so that a second backend
(object storage) changes nothing for the stages that read and write the lake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.settings import Settings

LAYERS = ("raw", "staging", "curated")


class Lake:
    """Resolves lake addresses for one settings object (local folder backend)."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.lake_root

    def url(self, layer: str, *parts: str) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown lake layer {layer!r}; expected one of {LAYERS}")
        return str(self.root.joinpath(layer, *parts))

    def parquet_glob(self, layer: str, source: str, table: str) -> str:
        return self.url(layer, source, table) + "/*.parquet"

    def ensure_layers(self) -> None:
        for layer in LAYERS:
            Path(self.url(layer)).mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class LakeFile:
    """One file of a layer: its path below the layer, size in bytes and last write (UTC)."""

    path: str
    size: int
    modified: dt.datetime


def list_files(settings: Settings, layer: str) -> Iterator[LakeFile]:
    """Every file of a layer, for usage and health views."""
    root = Path(Lake(settings).url(layer))
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # a publish may prune a version mid-walk
            if path.is_file():
                stat = path.stat()
                modified = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.timezone.utc)
                yield LakeFile(str(path.relative_to(root)), stat.st_size, modified)
