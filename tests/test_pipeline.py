"""`just run` end to end: marts reconcile with the source, runs are idempotent and incremental."""

from __future__ import annotations

import contextlib
import shutil

import duckdb

from core import runlog
from core.lake import Lake
from demo.day import advance_day
from pipeline.run import run_all
from publish.reader import connect_published, current_version
from publish.versions import read_sql
from tests.support.project import run_cli, settings_for, source_rows
from tests.support.reconcile import assert_marts_match_source


def test_first_run_builds_audits_and_publishes(built):
    settings, summary = built
    orders = source_rows(settings, "SELECT count(*) FROM orders")[0][0]
    assert summary.generated_source["orders"] == orders
    assert summary.rows_loaded["shop"]["orders"] == orders
    assert summary.models_built == sorted(summary.models_built) and len(summary.models_built) == summary.models_total == 25
    assert summary.audits_passed >= 80
    assert summary.tests_run >= 15
    assert set(summary.published_rows) == {
        "fct_orders",
        "fct_order_items",
        "fct_payments",
        "dim_customers",
        "dim_products",
        "daily_revenue",
        "weekly_revenue",
        "monthly_revenue",
        "customer_cohorts",
        "repeat_purchase_rate",
        "product_performance",
        "category_performance",
        "payment_method_mix",
        "product_daily_sales",
        "category_daily_sales",
    }
    jobs = {run["job"]: run["status"] for run in runlog.last_runs(settings.meta_path)}
    assert jobs == {"generate:shop": "success", "ingest:shop": "success", "transform": "success", "publish": "success"}


def test_marts_reconcile_with_the_source(built):
    settings, _ = built
    assert_marts_match_source(settings)


def test_a_machine_in_another_time_zone_builds_the_same_marts(built, tmp_path):
    """The source's timestamps are UTC wall times; a machine fourteen hours ahead of UTC must not move them (nor the
    days they fall on) into its own zone: the marts reconcile with the source and equal the ones built in UTC."""
    settings, _ = built
    data = tmp_path / "data"
    source = settings_for(data).source_path(settings.demo.source)
    source.parent.mkdir(parents=True)
    shutil.copy(settings.source_path(settings.demo.source), source)
    result = run_cli("run", data_dir=data, TZ="Pacific/Kiritimati")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert_marts_match_source(settings_for(data))
    for mart in ("fct_orders", "daily_revenue"):
        assert _published(settings_for(data), mart) == _published(settings, mart), mart


def _published(settings, mart: str) -> list[tuple]:
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        return sorted(con.execute(f"SELECT * FROM marts.{mart}").fetchall(), key=repr)


def test_soft_deleted_rows_stay_out_of_marts_and_keys_are_unique(built):
    settings, _ = built
    con, _ = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) - count(DISTINCT order_id) FROM marts.fct_orders").fetchone() == (0,)
        assert con.execute("SELECT count(*) - count(DISTINCT customer_id) FROM marts.dim_customers").fetchone() == (0,)
        orphans = con.execute(
            "SELECT count(*) FROM marts.fct_orders f LEFT JOIN marts.dim_customers d USING (customer_id) WHERE d.customer_id IS NULL"
        ).fetchone()
    assert orphans == (0,)


def test_run_is_idempotent_and_incremental_after_a_demo_day(settings):
    first = run_all(settings)
    version = first.published_version

    second = run_all(settings)
    assert second.rows_loaded == {"shop": {}}
    assert second.models_built == []
    assert second.published_version == version
    assert second.published_rows == first.published_rows

    high_water = source_rows(settings, "SELECT max(updated_at) FROM orders")[0][0]
    report = advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    changed = source_rows(settings, "SELECT count(*) FROM orders WHERE updated_at > ?", (high_water,))[0][0]
    before = current_version(settings)
    third = run_all(settings)
    assert changed >= report.new_orders + report.status_changes
    # a mart is written again exactly when the day changed its content; the others name the files they had
    after = current_version(settings)
    with contextlib.closing(Lake(settings).attach(duckdb.connect())) as con:
        for name, files in after.files.items():
            old, new = read_sql(before, name), read_sql(after, name)
            same = con.execute(f"SELECT NOT EXISTS ({old} EXCEPT ALL {new}) AND NOT EXISTS ({new} EXCEPT ALL {old})").fetchone()[0]
            assert (files == before.files[name]) == same, name
    assert after.files["fct_orders"] != before.files["fct_orders"]
    assert third.rows_loaded["shop"]["orders"] == changed
    assert third.published_version != version
    live_orders = source_rows(settings, "SELECT count(*) FROM orders WHERE deleted_at IS NULL")[0][0]
    assert third.published_rows["fct_orders"] == live_orders
    assert_marts_match_source(settings)

    # the raw layer keeps every version; staging keeps exactly one row per key
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) - count(DISTINCT order_id) FROM staging.stg_shop__orders").fetchone() == (0,)
        staged = con.execute("SELECT count(*) FROM staging.stg_shop__orders").fetchone()[0]
    assert staged == source_rows(settings, "SELECT count(*) FROM orders")[0][0]
    assert current_version(settings).version == third.published_version
