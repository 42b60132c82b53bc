"""Lake usage per layer and bucket (the first folder below the layer): size, files, latest write, small files."""

from __future__ import annotations

import pandas as pd

from core.lake import LAYERS, list_files
from core.settings import Settings

COLUMNS = ["layer", "bucket", "count_files", "size_bytes", "latest_write_at", "count_small_files"]


def lake_usage(settings: Settings) -> pd.DataFrame:
    """One row per layer and bucket; a layer with no files yet has one row with zero files."""
    small = settings.app.small_file_bytes
    rows = []
    for layer in LAYERS:
        buckets: dict[str, dict] = {}
        for file in list_files(settings, layer):
            bucket = file.path.split("/", 1)[0] if "/" in file.path else "(top level)"
            entry = buckets.setdefault(bucket, {"count_files": 0, "size_bytes": 0, "latest_write_at": None, "count_small_files": 0})
            entry["count_files"] += 1
            entry["size_bytes"] += file.size
            entry["count_small_files"] += file.size < small
            if entry["latest_write_at"] is None or file.modified > entry["latest_write_at"]:
                entry["latest_write_at"] = file.modified
        if not buckets:
            rows.append({"layer": layer, "bucket": "", "count_files": 0, "size_bytes": 0, "latest_write_at": None, "count_small_files": 0})
        rows += [{"layer": layer, "bucket": name, **entry} for name, entry in sorted(buckets.items())]
    return pd.DataFrame(rows, columns=COLUMNS)


def layer_totals(usage: pd.DataFrame) -> pd.DataFrame:
    """The usage summed per layer."""
    return (
        usage.groupby("layer", sort=False)
        .agg(
            count_files=("count_files", "sum"),
            size_bytes=("size_bytes", "sum"),
            latest_write_at=("latest_write_at", "max"),
            count_small_files=("count_small_files", "sum"),
        )
        .reset_index()
    )
