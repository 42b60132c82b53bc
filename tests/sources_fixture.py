"""Projects with other declared sources than the demo shop, for ingestion tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from core.settings import Settings, load_settings
from tests.conftest import ROOT


def settings_with_sources(tmp_path: Path, sources: dict, **env: str) -> Settings:
    """Settings of a copy of this project whose `sources` are replaced, data under tmp_path/data."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    document = yaml.safe_load((ROOT / "config.yaml").read_text())
    document["variables"]["platform"]["sources"] = sources
    (project / "config.yaml").write_text(yaml.safe_dump(document))
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / "data"), **env})


def raw(settings: Settings, source: str, table: str, sql: str = "SELECT count(*) FROM t") -> list[tuple]:
    """Query the Parquet files of one raw table as `t`."""
    files = settings.lake_root / "raw" / source / table / "*.parquet"
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}', union_by_name := true)")
        return con.execute(sql).fetchall()


def quarantine(settings: Settings, source: str, table: str, sql: str = "SELECT count(*) FROM q") -> list[tuple]:
    files = settings.lake_root / "raw" / source / "_quarantine" / table / "*.parquet"
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW q AS SELECT * FROM read_parquet('{files}', union_by_name := true)")
        return con.execute(sql).fetchall()
