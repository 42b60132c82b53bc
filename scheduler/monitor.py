"""The monitor job's checks: freshness against SLAs, row-count anomalies, lake and storage health.

Every result is recorded in `monitor_results` (for `just status` and the health
views); a failing check opens an alert, a passing one closes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import statistics
import uuid
from dataclasses import dataclass
from pathlib import Path

from core import metastore, warehouse
from core.buckets import probe
from core.lake import LAYERS, Lake
from core.run_context import open_run
from core.settings import Settings
from scheduler import alerts

FUTURE_SLACK_HOURS = 0.1  # a timestamp further ahead than this was written by a clock that was ahead
MAD_TO_SIGMA = 1.4826  # scales the median absolute deviation to a standard deviation for normal data


@dataclass
class CheckResult:
    check_name: str
    subject: str
    status: str  # ok | warn | fail
    value: float | None
    threshold: float | None
    detail: str


def run_checks(settings: Settings, now: dt.datetime | None = None) -> list[CheckResult]:
    """Run every check, record the results, and open or close the matching alerts."""
    now = now or dt.datetime.now(dt.UTC)
    storage = storage_health(settings)
    # With the lake unreachable the checks that read it cannot run: the lake_reachable failure is the alert.
    lake_ok = all(r.status == "ok" for r in storage if r.check_name == "lake_reachable")
    lake_checks = (
        mart_freshness(settings, now) + published_loads(settings, now) + row_anomalies(settings) + landed_files_not_loaded(settings, now)
        if lake_ok
        else []
    )
    results = source_freshness(settings, now) + rejected_landed_files(settings) + lake_checks + storage
    record(settings.meta_path, results, now)
    for result in results:
        key = f"{result.check_name}:{result.subject}"
        if result.status == "ok":
            alerts.clear_alert(settings, key, f"{result.check_name} of {result.subject} is back to normal: {result.detail}")
        elif result.check_name != "layer_size":
            severity = "error" if result.status == "fail" else "warning"
            alerts.raise_alert(settings, key, f"{result.check_name} of {result.subject}: {result.detail}", severity=severity)
    return results


def freshness(settings: Settings, now: dt.datetime | None = None) -> list[CheckResult]:
    """The freshness checks from the data alone, recording nothing: for `just status`, whether or not the
    monitor job has run (its next run is the job store's to keep)."""
    now = now or dt.datetime.now(dt.UTC)
    return source_freshness(settings, now) + mart_freshness(settings, now)


def record(meta_path: Path, results: list[CheckResult], now: dt.datetime) -> None:
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.executemany(
            "INSERT INTO monitor_results VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(now.isoformat(), r.check_name, r.subject, r.status, r.value, r.threshold, r.detail) for r in results],
        )


def prune(meta_path: Path, older_than: dt.datetime) -> None:
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.execute("DELETE FROM monitor_results WHERE checked_at < ?", (older_than.isoformat(),))


def source_freshness(settings: Settings, now: dt.datetime) -> list[CheckResult]:
    """Hours since each source's last successful ingest (scheduled or `just run`), against its SLA."""
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        last = dict(con.execute("SELECT job, max(finished_at) FROM job_runs WHERE job LIKE 'ingest:%' AND status = 'success' GROUP BY job"))
    results = []
    for name, source in settings.sources.items():
        finished = last.get(f"ingest:{name}")
        results.append(_freshness("source_freshness", name, finished, source.freshness_sla_hours, now, "never loaded"))
    return results


def rejected_landed_files(settings: Settings) -> list[CheckResult]:
    """Per file-drop source, the landed files whose latest taking rejected them (an alert until fixed and replayed)."""
    from ingest.landing import rejected_files

    results = []
    for name, source in settings.sources.items():
        if source.kind != "files":
            continue
        rejected = rejected_files(settings.meta_path, name)
        named = "; ".join(f"{f.table} {f.path}: {f.reason}" for f in rejected[:3]) + ("; ..." if len(rejected) > 3 else "")
        detail = f"{len(rejected)} landed file(s) rejected: {named} (`just quarantine {name}` lists them)" if rejected else "none"
        results.append(CheckResult("rejected_files", name, "warn" if rejected else "ok", len(rejected), 0, detail))
    return results


def landed_files_not_loaded(settings: Settings, now: dt.datetime) -> list[CheckResult]:
    """Per file-drop source, what lies in the landing area and is not loaded, with nothing else to say why (a missing
    landing folder, files matching no table's pattern or two tables', files stamped ahead of the clock)."""
    from ingest.landing import landing_warnings

    results = []
    for name, source in settings.sources.items():
        if source.kind != "files":
            continue
        waiting = landing_warnings(settings, name, now=now.timestamp())
        status = "warn" if waiting else "ok"
        results.append(CheckResult("landed_files_waiting", name, status, len(waiting), 0, "; ".join(waiting) or "none"))
    return results


def mart_freshness(settings: Settings, now: dt.datetime) -> list[CheckResult]:
    """Hours since the published marts' version was published, against monitoring.marts_freshness_sla_hours."""
    from publish.reader import current_version

    sla = settings.monitoring.marts_freshness_sla_hours
    published = current_version(settings)
    if published is None:
        return [_freshness("mart_freshness", "marts", None, sla, now, "never published")]
    return [
        _freshness("mart_freshness", f"marts.{table}", published.published_at, sla, now, "never published")
        for table in sorted(published.files)
    ]


def published_loads(settings: Settings, now: dt.datetime) -> list[CheckResult]:
    """Do the published marts reflect every completed raw load? A load may wait for the next transform
    for up to monitoring.publish_lag_minutes; one older than that fails (the marts are stale)."""
    from pipeline.stages import unreflected_loads

    waiting = unreflected_loads(open_run(settings))
    lag = settings.monitoring.publish_lag_minutes
    oldest = min((_load_time(name) for name in waiting), default=None)
    minutes = (now.timestamp() - oldest) / 60 if oldest is not None else 0.0
    if not waiting:
        detail = "the published marts reflect every completed load"
    else:
        detail = f"{len(waiting)} completed load(s) not in the published marts, the oldest {minutes:.0f} min old: {', '.join(waiting[:3])}"
    status = "ok" if minutes <= lag else "fail"
    return [CheckResult("published_loads", "marts", status, round(minutes, 1), lag, detail)]


def _load_time(name: str) -> float:
    """When a load completed, from its dlt load id (epoch seconds; `<source>/<load id>`)."""
    try:
        return float(name.rpartition("/")[2])
    except ValueError:
        return dt.datetime.now(dt.UTC).timestamp()


def _freshness(check: str, subject: str, at: str | None, sla_hours: float, now: dt.datetime, never: str) -> CheckResult:
    if at is None:
        return CheckResult(check, subject, "fail", None, sla_hours, never)
    age = (now - dt.datetime.fromisoformat(at)).total_seconds() / 3600
    if age < -FUTURE_SLACK_HOURS:  # recorded while the clock was ahead: how old the data really is, nobody knows
        return CheckResult(check, subject, "fail", round(age, 3), sla_hours, f"recorded {-age:.1f} h in the future (the clock was ahead)")
    status = "ok" if age <= sla_hours else "fail"
    return CheckResult(check, subject, status, round(age, 3), sla_hours, f"{age:.1f} h old (SLA {sla_hours:g} h)")


def row_anomalies(settings: Settings) -> list[CheckResult]:
    """The latest load of each raw table against that table's previous loads, by median and MAD.

    The first load (the backfill) is left out of the baseline, and a table needs
    `monitoring.anomaly_min_history` earlier loads before it is judged.
    """
    lake, cfg, results = Lake(settings), settings.monitoring, []
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        for source, declared in settings.sources.items():
            counts = {table: _rows_per_load(con, lake, source, table) for table in declared.tables}
            loads = sorted({load for per_table in counts.values() for load in per_table}, key=float)
            for table, per_load in counts.items():
                series = [per_load.get(load, 0) for load in loads]
                results.append(_judge(f"{source}.{table}", series, cfg.anomaly_min_history, cfg.anomaly_window, cfg.anomaly_threshold))
    return results


def _rows_per_load(con, lake: Lake, source: str, table: str) -> dict[str, int]:
    if not lake.fs.glob(lake.parquet_glob("raw", source, table)):
        return {}
    glob = warehouse.sql_literal(lake.parquet_glob("raw", source, table))
    return dict(con.execute(f"SELECT _dlt_load_id, count(*) FROM read_parquet({glob}, union_by_name = true) GROUP BY 1").fetchall())


def _judge(subject: str, series: list[int], min_history: int, window: int, threshold: float) -> CheckResult:
    baseline, latest = series[1:-1][-window:], (series[-1] if series else None)
    if latest is None or len(baseline) < min_history:
        return CheckResult("row_anomaly", subject, "ok", latest, None, f"{len(baseline)} loads of history; judged from {min_history}")
    median = statistics.median(baseline)
    mad = statistics.median(abs(x - median) for x in baseline) * MAD_TO_SIGMA
    spread = max(mad, 0.05 * abs(median), 1.0)  # identical history must not make every change an anomaly
    score = (latest - median) / spread
    status = "warn" if abs(score) > threshold else "ok"
    direction = "drop" if score < 0 else "rise"
    detail = f"latest load {latest:,} rows vs median {median:,.0f} (robust z {score:+.1f}" + (
        f", a {direction})" if status != "ok" else ")"
    )
    return CheckResult("row_anomaly", subject, status, round(score, 3), threshold, detail)


def storage_health(settings: Settings) -> list[CheckResult]:
    """The lake is reachable (and writable, or its keys accepted), the disk has room, and how big each layer is."""
    if settings.lake.backend == "s3":
        return _store_health(settings) + [_free_disk(settings)]
    root, results = settings.lake_root, []
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
        results.append(CheckResult("lake_reachable", str(root), "ok", 1, None, "writable"))
    except OSError as exc:
        results.append(CheckResult("lake_reachable", str(root), "fail", 0, None, f"not writable: {exc.strerror or exc}"))
        return results
    results.append(_free_disk(settings))
    for layer in LAYERS:
        folder = Path(Lake(settings).url(layer))
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        results.append(CheckResult("layer_size", layer, "ok", size, None, f"{size / 1e6:.1f} MB"))
    return results


def _free_disk(settings: Settings) -> CheckResult:
    """The data folder holds the warehouse and the metadata on either backend."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(settings.data_dir).free / 1e9
    minimum = settings.monitoring.min_free_disk_gb
    status = "ok" if free_gb >= minimum else "fail"
    return CheckResult(
        "free_disk", str(settings.data_dir), status, round(free_gb, 2), minimum, f"{free_gb:.1f} GB free (minimum {minimum:g} GB)"
    )


def _store_health(settings: Settings) -> list[CheckResult]:
    """The S3 store answers and accepts the keys; each layer's bucket exists; its object count and size."""
    store = probe(Lake(settings))
    if store.status != "ok":
        return [CheckResult("lake_reachable", store.endpoint, "fail", 0, None, store.detail)]
    results = [CheckResult("lake_reachable", store.endpoint, "ok", 1, None, store.detail)]
    for bucket in store.buckets:
        present = "ok" if bucket.present else "fail"
        results.append(
            CheckResult(
                "bucket_present",
                bucket.layer,
                present,
                int(bucket.present),
                None,
                f"bucket {bucket.bucket}" + ("" if bucket.present else " is missing"),
            )
        )
        results.append(
            CheckResult(
                "layer_size",
                bucket.layer,
                "ok",
                bucket.bytes,
                None,
                f"{bucket.objects:,} objects, {bucket.bytes / 1e6:.1f} MB in s3://{bucket.bucket}",
            )
        )
    return results
