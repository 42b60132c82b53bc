"""Run the ingestion of one declared source into `lake://raw/<source>/<table>/`."""

from __future__ import annotations

from dataclasses import dataclass, field

import dlt

from core.lake import Lake
from core.settings import Settings
from ingest.sql_database import connection_url, table_resources

RAW_LAYOUT = "{table_name}/{load_id}.{file_id}.{ext}"


@dataclass
class IngestResult:
    """Rows loaded per table by one pipeline run (empty when nothing changed)."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def ingest_source(settings: Settings, name: str) -> IngestResult:
    """Load new and changed rows of source `name` as Parquet into the raw layer."""
    source = settings.sources[name]
    lake = Lake(settings)
    # Staging reads only completed loads; the load id in every row is how it knows.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    pipeline = dlt.pipeline(
        pipeline_name=f"ingest_{name}",
        destination=lake.dlt_destination("raw", RAW_LAYOUT),
        dataset_name=name,
        pipelines_dir=str(settings.data_dir / "dlt"),
        progress=None,
    )
    resources = table_resources(source, connection_url(source, settings.source_path(name)))
    info = pipeline.run(resources, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    normalize = pipeline.last_trace.last_normalize_info
    rows = {table: count for table, count in (normalize.row_counts if normalize else {}).items() if not table.startswith("_dlt")}
    return IngestResult(source=name, rows=rows, load_ids=list(info.loads_ids))
