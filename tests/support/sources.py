"""Projects with other declared sources than the demo shop, for ingestion tests."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import yaml

from core import warehouse
from core.lake import Lake
from core.settings import Settings, load_settings
from core.warehouse import sql_literal
from tests.support.project import ROOT

# Extra settings for every project made here: the reliability battery puts the lake on S3 with it.
LAKE_ENV: dict[str, str] = {}


def settings_with_sources(tmp_path: Path, sources: dict, **env: str) -> Settings:
    """Settings of a copy of this project whose `sources` are replaced, data under tmp_path/data."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    document = yaml.safe_load((ROOT / "config.yaml").read_text())
    document["variables"]["platform"]["sources"] = sources
    (project / "config.yaml").write_text(yaml.safe_dump(document))
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / "data"), **LAKE_ENV, **env})


def raw(settings: Settings, source: str, table: str, sql: str = "SELECT count(*) FROM t") -> list[tuple]:
    """Query the Parquet files of one raw table as `t` (on the local lake or S3)."""
    return _query(settings, Lake(settings).parquet_glob("raw", source, table), "t", sql)


def quarantine(settings: Settings, source: str, table: str, sql: str = "SELECT count(*) FROM q") -> list[tuple]:
    return _query(settings, Lake(settings).parquet_glob("raw", source, f"_quarantine/{table}"), "q", sql)


def _query(settings: Settings, files: str, name: str, sql: str) -> list[tuple]:
    with contextlib.closing(Lake(settings).attach(warehouse.connect())) as con:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({sql_literal(files)}, union_by_name := true)")
        return con.execute(sql).fetchall()


def landed_files(tmp_path: Path, name: str, tables: dict, files: dict[str, bytes], **source) -> Settings:
    """Settings of a project with one files source `name` (its `tables`, and `source` keys), and `files` (landed
    path -> content) landed in its landing area in their order, the first ten minutes ago, a second apart."""
    declaration = {"kind": "files", "landing": f"landing/{name}", "settle_seconds": 0, "tables": tables, **source}
    settings = settings_with_sources(tmp_path, {name: declaration})
    landing = settings.landing_path(name)
    for age, (relative, content) in enumerate(files.items()):
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (time.time() - 600 + age, time.time() - 600 + age))
    return settings
