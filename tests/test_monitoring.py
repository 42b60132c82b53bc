"""Monitoring and alerting: dedup with reminders, recovery, row-count anomalies, freshness, storage health."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import runlog
from core.lake import Lake
from scheduler import alerts
from scheduler.monitor import run_checks
from tests.support.project import settings_for
from tests.support.receivers import channel_env

pytestmark = pytest.mark.slow  # real SMTP and HTTP receivers, real Parquet
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def test_one_alert_per_open_problem_with_reminder_then_recovery(tmp_path, receivers):
    webhook, smtp = receivers
    settings = settings_for(tmp_path / "data", PLATFORM__ALERTS__REMINDER_HOURS="6", **channel_env(webhook, smtp))
    key = "free_disk:/srv"
    sent = [alerts.raise_alert(settings, key, "disk almost full", now=NOW + dt.timedelta(hours=h)) for h in (0, 1, 5, 6.5, 7)]
    assert sent == [True, False, False, True, False]
    assert webhook.texts(key) == ["[ERROR] disk almost full", "[ERROR, still open] disk almost full"]
    assert len(smtp.messages) == 2

    assert alerts.clear_alert(settings, key, "disk has room again", now=NOW + dt.timedelta(hours=8))
    assert not alerts.clear_alert(settings, key, "disk has room again", now=NOW + dt.timedelta(hours=9))
    assert webhook.texts(key)[2:] == ["[RESOLVED] disk has room again"]
    assert smtp.subjects()[2:] == ["duckstack: [RESOLVED] disk has room again"]
    assert alerts.open_alerts(settings.meta_path) == []

    assert alerts.raise_alert(settings, key, "disk almost full", now=NOW + dt.timedelta(hours=10))  # a new problem
    assert len(webhook.texts(key)) == 4


def test_secrets_in_channel_urls_never_reach_the_log(tmp_path, caplog):
    settings = settings_for(
        tmp_path / "data",
        PLATFORM__ALERTS__CHANNELS='{"slack": {"kind": "webhook"}}',
        ALERTS_SLACK_WEBHOOK_URL="http://127.0.0.1:9/hooks/SECRET-TOKEN",
    )
    assert alerts.raise_alert(settings, "job:x", "x failed")
    assert "alert channel slack failed" in caplog.text and "SECRET-TOKEN" not in caplog.text
    assert "SECRET-TOKEN" not in repr(settings)


def write_loads(settings, table: str, counts: list[int], first_id: int = 1) -> None:
    """Raw Parquet files the way dlt lays them out: one per load, each row carrying its load id."""
    folder = Lake(settings).url("raw", "shop", table)
    for number, count in enumerate(counts, start=first_id):
        load_id = f"{1_760_000_000 + number * 3600}.{number:06d}"
        rows = pa.table({"id": list(range(count)), "_dlt_load_id": [load_id] * count})
        Path(folder).mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, f"{folder}/{load_id}.{number}.parquet")


def anomaly(results, subject: str):
    (found,) = [r for r in results if r.check_name == "row_anomaly" and r.subject == subject]
    return found


def test_row_count_drop_is_an_anomaly_after_enough_history(tmp_path, receivers):
    webhook, smtp = receivers
    settings = settings_for(tmp_path / "data", **channel_env(webhook, smtp))

    write_loads(settings, "orders", [5000, 100, 104, 98, 10])  # backfill, then too little history to judge
    early = anomaly(run_checks(settings), "shop.orders")
    assert early.status == "ok" and "3 loads of history" in early.detail
    assert webhook.texts("row_anomaly:shop.orders") == []

    write_loads(settings, "orders", [101, 99, 102, 97, 103, 100, 12], first_id=6)
    dropped = anomaly(run_checks(settings), "shop.orders")
    assert dropped.status == "warn" and "latest load 12 rows" in dropped.detail and "a drop" in dropped.detail
    assert dropped.value < -dropped.threshold
    assert [
        t.startswith("[WARNING] row_anomaly of shop.orders: latest load 12 rows") for t in webhook.texts("row_anomaly:shop.orders")
    ] == [True]
    assert anomaly(run_checks(settings), "shop.customers").status == "ok"  # no loads there: nothing to judge

    write_loads(settings, "orders", [99], first_id=13)
    recovered = anomaly(run_checks(settings), "shop.orders")
    assert recovered.status == "ok"
    assert webhook.texts("row_anomaly:shop.orders")[-1].startswith("[RESOLVED] row_anomaly of shop.orders is back to normal")
    assert len(webhook.texts("row_anomaly:shop.orders")) == 2


def test_freshness_against_the_source_sla_and_storage_health(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__SOURCES__SHOP__FRESHNESS_SLA_HOURS="26")
    never = {(r.check_name, r.subject): r for r in run_checks(settings)}
    assert never[("source_freshness", "shop")].status == "fail" and never[("source_freshness", "shop")].detail == "never loaded"
    assert never[("mart_freshness", "marts")].status == "fail"

    run_id = runlog.start_run(settings.meta_path, "ingest:shop", trigger="scheduled")
    runlog.finish_run(settings.meta_path, run_id, "success", rows_out=10)
    now = dt.datetime.now(dt.UTC)
    fresh = {(r.check_name, r.subject): r for r in run_checks(settings, now=now + dt.timedelta(hours=25))}
    stale = {(r.check_name, r.subject): r for r in run_checks(settings, now=now + dt.timedelta(hours=27))}
    assert fresh[("source_freshness", "shop")].status == "ok"
    assert stale[("source_freshness", "shop")].status == "fail" and "(SLA 26 h)" in stale[("source_freshness", "shop")].detail
    assert stale[("lake_reachable", str(settings.lake_root))].status == "ok"
    assert stale[("free_disk", str(settings.data_dir))].value > 0
    assert {subject for (check, subject) in stale if check == "layer_size"} == {"raw", "staging", "curated"}
    keys = {a["alert_key"] for a in alerts.open_alerts(settings.meta_path)}
    assert keys == {"source_freshness:shop", "mart_freshness:marts"}
