"""The files scenario's sides: `just run` on the generated project, and the same answers by hand in DuckDB.

The platform side is `pipeline.run.run_all`, what `just run` runs, with each stage's wall seconds,
CPU seconds and peak RSS measured in its own process (the peak is reset between stages through
/proc/self/clear_refs, Linux's way to restart VmHWM). Two hand-written sides:
- `duckdb_marts` reads every dropped file, keeps the latest version of each key, drops the deleted
  ones, computes the marts and writes them to Parquet: after a change, it recomputes everything from
  all the files (one pass, no layer kept);
- `duckdb_layers` keeps the layers the platform keeps, the plain way: each round's files copied to a
  raw Parquet file, staging tables in a DuckDB file (built from raw, then merged by key from the new
  raw file only), the marts computed from staging, and staging and the marts written to Parquet.
"""

from __future__ import annotations

import contextlib
import resource
import time
from pathlib import Path

from bench.scenario_data import SHIFTS, TRIPS
from bench.scenario_project import KEYS
from bench.sides_transform import apply_duckdb_settings
from core import warehouse
from core.settings import Settings

METERED = ("ingest", "transform", "publish")

# The marts by hand, over `trips` and `shifts`: the latest version of each key, deleted ones left out.
HAND_MARTS = {
    "fleet_daily_trips": """
      SELECT
        started_at::DATE AS trip_date,
        count(*) AS count_trips,
        sum(fare_eur::DECIMAL(10, 2))::DECIMAL(18, 2) AS amount_fares,
        sum(distance_km::DECIMAL(12, 2))::DECIMAL(18, 2) AS distance_km,
        count(DISTINCT vehicle_id) AS count_vehicles
      FROM trips GROUP BY ALL""",
    "fleet_daily_fuel": """
      SELECT
        service_date,
        count(*) AS count_shifts,
        sum(fuel_eur::DECIMAL(10, 2))::DECIMAL(18, 2) AS amount_fuel,
        sum(km_driven)::BIGINT AS km_driven,
        count(*) FILTER (WHERE status = 'maintenance') AS count_maintenance
      FROM shifts GROUP BY ALL""",
    "fleet_vehicles": """
      WITH t AS (
        SELECT vehicle_id, count(*) AS count_trips, sum(fare_eur::DECIMAL(10, 2)) AS amount_fares,
               min(started_at) AS first_trip_at, max(started_at) AS last_trip_at
        FROM trips GROUP BY ALL
      ), s AS (
        SELECT vehicle_id, count(*) AS count_shifts, sum(fuel_eur::DECIMAL(10, 2)) AS amount_fuel FROM shifts GROUP BY ALL
      )
      SELECT
        coalesce(t.vehicle_id, s.vehicle_id) AS vehicle_id,
        coalesce(count_trips, 0) AS count_trips,
        coalesce(amount_fares, 0)::DECIMAL(18, 2) AS amount_fares,
        first_trip_at,
        last_trip_at,
        coalesce(count_shifts, 0) AS count_shifts,
        coalesce(amount_fuel, 0)::DECIMAL(18, 2) AS amount_fuel
      FROM t FULL OUTER JOIN s ON t.vehicle_id = s.vehicle_id""",
}


class StageMeter:
    """Wall seconds, CPU seconds (this process and its finished children) and peak RSS of each stage of a run,
    told by the run's progress events."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float | None]] = {}
        self._current: str | None = None
        self._start = (0.0, 0.0)
        self._before: float | None = None  # the peak before the first stage (start-up, imports)

    def event(self, stage: str, message: str, done: int | None = None, total: int | None = None) -> None:
        if stage in METERED and stage != self._current:
            self.close()
            if not self.stages:
                self._before = _peak_mb()
            self._current, self._start = stage, (time.perf_counter(), _cpu())
            _reset_peak()

    @property
    def peak_rss_mb(self) -> float | None:
        """The process's peak: resetting a stage's peak resets the one the kernel reports at exit too."""
        peaks = [self._before, *(node["peak_rss_mb"] for node in self.stages.values())]
        return max((peak for peak in peaks if peak is not None), default=None)

    def close(self) -> None:
        if self._current is not None:
            wall, cpu = self._start
            node = self.stages.setdefault(self._current, {"seconds": 0.0, "cpu_seconds": 0.0, "peak_rss_mb": None})
            node["seconds"] = (node["seconds"] or 0.0) + time.perf_counter() - wall
            node["cpu_seconds"] = (node["cpu_seconds"] or 0.0) + _cpu() - cpu
            peak = _peak_mb()
            node["peak_rss_mb"] = max(peak, node["peak_rss_mb"] or 0.0) if peak is not None else None
        self._current = None


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def platform(settings: Settings, params: dict) -> dict:
    """`just run` on the scenario's project: ingest the new drops, build, publish."""
    from pipeline.run import run_all

    meter = StageMeter()
    summary = run_all(settings, events=meter.event)
    meter.close()
    return {
        "stages": meter.stages,
        "peak_rss_mb": meter.peak_rss_mb,
        "rows_loaded": summary.rows_loaded,
        "models_built": summary.models_built,
        "published_version": summary.published_version,
        "published_new": summary.publish_reason is not None,
        "published_rows": summary.published_rows,
    }


def duckdb_marts(settings: Settings, params: dict) -> dict:
    """By hand: read every file of each table, keep each key's latest version, leave the deleted out,
    compute the marts and COPY them to Parquet in `<data_dir>/marts/`."""
    out = settings.data_dir / "marts"
    out.mkdir(parents=True, exist_ok=True)
    landing = Path(params["landing"])
    with contextlib.closing(warehouse.connect()) as con:
        apply_duckdb_settings(con, params)
        for name, table in (("trips", TRIPS), ("shifts", SHIFTS)):
            files = warehouse.sql_literal(landing / f"{table}-*.csv")
            con.execute(
                f"CREATE TABLE {name} AS SELECT * EXCLUDE (deleted_at) FROM read_csv({files}) "
                f"QUALIFY row_number() OVER (PARTITION BY {', '.join(KEYS[table])} ORDER BY updated_at DESC) = 1 AND deleted_at IS NULL"
            )
        rows = {}
        for mart, sql in HAND_MARTS.items():
            con.execute(f"COPY ({sql}) TO {warehouse.sql_literal(out / f'{mart}.parquet')} (FORMAT parquet, COMPRESSION zstd)")
            [(rows[mart],)] = con.execute(f"SELECT count(*) FROM read_parquet({warehouse.sql_literal(out / f'{mart}.parquet')})").fetchall()
    return {"rows": rows}


def duckdb_layers(settings: Settings, params: dict) -> dict:
    """By hand, with the platform's layers, in `<data_dir>`: copy `params["files"]` (this round's drops) to
    `raw/<table>/<round>.parquet`; build the staging tables from raw (the first round) or merge the new raw file
    into them by key (a change: its keys' staged rows replaced by their newest version); compute the marts from
    staging's live rows; write staging and the marts to Parquet in `published/` and `marts/`. A change's versions
    are taken to be newer than the staged ones, as the scenario's are."""
    data = settings.data_dir
    landing, round_name = Path(params["landing"]), params["round"]
    with contextlib.closing(warehouse.connect(data / "layers.duckdb")) as con:
        apply_duckdb_settings(con, params)
        for name, table in (("trips", TRIPS), ("shifts", SHIFTS)):
            files = [warehouse.sql_literal(landing / file) for file in params["files"] if file.startswith(f"{table}-")]
            raw_file = data / "raw" / table / f"{round_name}.parquet"
            raw_file.parent.mkdir(parents=True, exist_ok=True)
            raw = warehouse.sql_literal(raw_file)
            con.execute(f"COPY (SELECT * FROM read_csv([{', '.join(files)}])) TO {raw} (FORMAT parquet, COMPRESSION zstd)")
            keys = ", ".join(KEYS[table])
            newest = f"SELECT * FROM read_parquet({raw}) QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY updated_at DESC) = 1"
            # staging keeps the deleted rows (flagged by `deleted_at`), as the platform's staging models do
            [(staged,)] = con.execute(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = 'stg_{name}'").fetchall()
            if not staged:
                con.execute(f"CREATE TABLE stg_{name} AS {newest}")
            else:
                con.execute("BEGIN")
                con.execute(f"CREATE TEMP TABLE incoming AS {newest}")
                con.execute(f"DELETE FROM stg_{name} WHERE ({keys}) IN (SELECT ({keys}) FROM incoming)")
                con.execute(f"INSERT INTO stg_{name} SELECT * FROM incoming")
                con.execute("DROP TABLE incoming")
                con.execute("COMMIT")
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (deleted_at) FROM stg_{name} WHERE deleted_at IS NULL")
        published, marts = data / "published", data / "marts"
        published.mkdir(exist_ok=True)
        marts.mkdir(exist_ok=True)
        for name in ("trips", "shifts"):
            con.execute(f"COPY stg_{name} TO {warehouse.sql_literal(published / f'{name}.parquet')} (FORMAT parquet, COMPRESSION zstd)")
        rows = {}
        for mart, sql in HAND_MARTS.items():
            con.execute(f"CREATE OR REPLACE TABLE {mart} AS {sql}")
            con.execute(f"COPY {mart} TO {warehouse.sql_literal(marts / f'{mart}.parquet')} (FORMAT parquet, COMPRESSION zstd)")
            [(rows[mart],)] = con.execute(f"SELECT count(*) FROM {mart}").fetchall()
    return {"rows": rows}


def compare(settings: Settings, hand_marts: Path) -> dict[str, dict]:
    """Each published mart of the project against the hand-written side's Parquet: rows on each side, and
    the rows of each missing from the other (not measured)."""
    from publish.reader import connect_published

    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        out = {}
        for mart in HAND_MARTS:
            hand = f"read_parquet({warehouse.sql_literal(hand_marts / f'{mart}.parquet')})"
            [(published, by_hand)] = con.execute(f"SELECT (SELECT count(*) FROM marts.{mart}), (SELECT count(*) FROM {hand})").fetchall()
            [(only_published,)] = con.execute(
                f"SELECT count(*) FROM (SELECT * FROM marts.{mart} EXCEPT ALL SELECT * FROM {hand})"
            ).fetchall()
            [(only_hand,)] = con.execute(f"SELECT count(*) FROM (SELECT * FROM {hand} EXCEPT ALL SELECT * FROM marts.{mart})").fetchall()
            out[mart] = {
                "published_rows": published,
                "duckdb_rows": by_hand,
                "only_published": only_published,
                "only_duckdb": only_hand,
                "equal": only_published == only_hand == 0,
            }
    return out
