"""The app's queries, without Streamlit: KPIs and trends against independent SQL on the published marts."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import duckdb
import pytest

from app.queries import business, environments, freshness, lake_usage, pipeline_health, products, quality
from app.queries.meta import read_meta
from core import metastore
from metrics import layer
from publish.reader import connect_published, current_version
from tests.support.app_pages import ORDERS, independent_kpis


@pytest.fixture
def marts(built):
    settings, _ = built
    con, published = connect_published(settings)
    with contextlib.closing(con):
        yield con


def _last_30_days(con) -> business.Period:
    last = con.execute("SELECT max(order_date) FROM marts.fct_orders").fetchone()[0]
    return business.Period(last - dt.timedelta(days=29), last)


def test_kpis_equal_independent_sql(marts):
    period = _last_30_days(marts)
    for current in (period, period.previous()):
        expected = independent_kpis(marts, current.start, current.end)
        got = {k.label: k.value for k in business.kpis(marts, current)}
        assert got == pytest.approx(expected, rel=1e-9)
        assert expected[ORDERS] > 0 and expected["New customers"] + expected["Returning customers"] > 0
    kpis = {k.label: k for k in business.kpis(marts, period)}
    previous = independent_kpis(marts, period.previous().start, period.previous().end)
    assert kpis["Revenue"].previous == pytest.approx(previous["Revenue"])
    assert kpis["Revenue"].change == pytest.approx((kpis["Revenue"].value - previous["Revenue"]) / previous["Revenue"])
    assert kpis["Cancellation rate"].change == pytest.approx(kpis["Cancellation rate"].value - previous["Cancellation rate"])


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    period = business.Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    assert period.previous() == business.Period(dt.date(2025, 1, 29), dt.date(2025, 2, 28))


@pytest.mark.parametrize("grain", business.GRAINS)
def test_trends_add_up_to_the_period(marts, grain):
    first, last = business.order_date_range(marts)
    period = business.Period(first + dt.timedelta(days=10), last)
    frame = business.trends(marts, period, grain)
    revenue, orders = marts.execute(
        "SELECT sum(amount_total) FILTER (WHERE NOT is_cancelled)::DOUBLE, count(*) FROM marts.fct_orders WHERE order_date BETWEEN ? AND ?",
        (period.start, period.end),
    ).fetchone()
    assert frame["revenue"].sum() == pytest.approx(revenue)
    assert frame["orders_placed"].sum() == orders
    assert (frame["orders"] + frame["cancelled_orders"] == frame["orders_placed"]).all()
    assert frame["period_start"].is_unique
    if grain == "week":
        assert all(day.weekday() == 0 for day in frame["period_start"].iloc[1:])
    with pytest.raises(ValueError, match="grain"):
        business.trends(marts, period, "year; drop table x")


def test_cohorts_start_at_full_retention_and_cover_every_buyer(marts):
    cohorts = business.cohort_retention(marts)
    month_zero = cohorts[cohorts["months_since_first"] == 0]
    assert (month_zero["retention"] == 1).all()
    buyers = marts.execute("SELECT count(DISTINCT customer_id) FROM marts.fct_orders WHERE NOT is_cancelled").fetchone()[0]
    assert month_zero["cohort_customers"].sum() == buyers
    assert cohorts["retention"].between(0, 1).all()


def test_ltv_distribution_and_top_customers(marts):
    ltv = business.ltv_distribution(marts)
    buyers, best = marts.execute(
        "SELECT count(*), max(amount_lifetime_value)::DOUBLE FROM marts.dim_customers WHERE count_orders > 0"
    ).fetchone()
    assert ltv["count_customers"].sum() == buyers
    assert ltv["ltv_from"].min() >= 0 and ltv["ltv_to"].max() > best
    top = business.top_customers(marts, 5)
    assert len(top) == 5 and top["amount_lifetime_value"].iloc[0] == pytest.approx(best)
    assert top["amount_lifetime_value"].is_monotonic_decreasing


def test_products_read_the_daily_product_mart_and_the_product_dimension(marts):
    assert products.missing_columns(marts) == []
    with duckdb.connect() as bare:
        bare.execute("CREATE SCHEMA marts")
        expected = [f"{table}.{column}" for table, columns in products.REQUIRED_COLUMNS.items() for column in columns]
        assert products.missing_columns(bare) == expected


def test_pipeline_health_reads_the_run_log(built):
    settings, _ = built
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        jobs = {row[0] for row in con.execute("SELECT job FROM job_runs")}
    last = pipeline_health.last_runs_per_job(settings.meta_path)
    assert set(last["job"]) == jobs >= {"ingest:shop", "transform", "publish"}
    assert (last["duration_seconds"] >= 0).all()
    rates = pipeline_health.failure_rates(settings.meta_path)
    assert rates["failure_rate"].between(0, 1).all()


def test_missing_store_and_empty_tables_are_empty_states(tmp_path):
    meta = tmp_path / "meta.db"
    assert read_meta(meta, "SELECT 1") is None
    metastore.connect(meta).close()  # a store that nothing has written to yet
    assert pipeline_health.scheduled_runs(meta).empty
    assert pipeline_health.open_alerts(meta).empty
    assert quality.anomalies(meta).empty and quality.audit_results(meta).empty
    assert pipeline_health.last_runs_per_job(meta).empty
    with contextlib.closing(sqlite3.connect(meta)) as con:
        con.executemany(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("a", "2026-01-01T00:00:00", None, None, "error", "open one"),
                ("b", "2026-01-01T00:00:00", None, "2026-01-02T00:00:00", "error", "closed one"),
            ],
        )
        con.commit()
    assert pipeline_health.open_alerts(meta)["message"].tolist() == ["open one"]


def test_freshness_status_bands():
    assert freshness.status(None, 26, 0.8) == freshness.RED
    assert freshness.status(1, 26, 0.8) == freshness.GREEN
    assert freshness.status(25, 26, 0.8) == freshness.AMBER
    assert freshness.status(27, 26, 0.8) == freshness.RED


def test_freshness_of_sources_and_marts(built):
    settings, _ = built
    frame = freshness.freshness(settings)
    published = {f"marts.{table}" for table in current_version(settings).files}
    assert published >= {"marts.daily_revenue", "marts.dim_customers", "marts.fct_orders"}
    assert set(frame["name"]) == {"shop"} | published
    assert set(frame["status"]) == {freshness.GREEN}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=27)
    assert set(freshness.freshness(settings, now=later)["status"]) == {freshness.RED}


def test_lake_usage_counts_every_file(built):
    settings, _ = built
    usage = lake_usage.lake_usage(settings)
    raw_files = [p for p in (settings.lake_root / "raw").rglob("*") if p.is_file()]
    raw = usage[usage["layer"] == "raw"]
    assert raw["count_files"].sum() == len(raw_files)
    assert raw["size_bytes"].sum() == sum(p.stat().st_size for p in raw_files)
    assert set(usage["layer"]) == {"raw", "staging", "curated"}
    assert (usage["count_small_files"] <= usage["count_files"]).all()


def test_environments_compare_rows(built):
    settings, summary = built
    found = environments.published_environments(settings)
    assert "prod" in found
    table = environments.compare(found)
    assert dict(zip(table["table"], table["rows_prod"], strict=True)) == found["prod"].rows


def test_new_customers_are_the_cohort_sizes(marts):
    """One definition: a month's new customers on Overview are that month's cohort on Customers."""
    by_month = layer.run(marts, layer.Query(("new_customers",), grain="month"))
    cohorts = business.cohort_retention(marts)
    sizes = cohorts[cohorts["months_since_first"] == 0]
    assert dict(zip(by_month["period_start"], by_month["new_customers"], strict=True)) == {
        month.date(): size for month, size in zip(sizes["cohort_month"], sizes["cohort_customers"], strict=True)
    }


def test_payment_mix_of_a_month_equals_the_payment_method_mix_mart(marts):
    month = marts.execute("SELECT min(paid_month) FROM marts.payment_method_mix").fetchone()[0]
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    mix = business.payment_mix(marts, business.Period(month, end))
    mart = {
        r[0]: r[1:]
        for r in marts.execute(
            "SELECT payment_method, amount_paid::DOUBLE, count_payments, share_of_amount::DOUBLE FROM marts.payment_method_mix "
            "WHERE paid_month = ?",
            (month,),
        ).fetchall()
    }
    assert set(mix["payment_method"]) == set(mart) and len(mart) >= 2
    for row in mix.to_dict("records"):
        amount, count, share = mart[row["payment_method"]]
        assert (row["amount_paid"], row["payments"]) == (pytest.approx(amount), count)
        assert row["share_of_amount"] == pytest.approx(share, abs=0.00005)
    assert mix["amount_paid"].is_monotonic_decreasing


def test_explore_offers_the_days_of_the_chosen_metrics_own_model(marts):
    """A metric dated by another model (payments moved a year on, as a new source's would be) gets its own days, not the orders'."""
    from app.queries import explore

    orders = explore.date_range(marts, "revenue")
    assert orders == tuple(marts.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone())
    marts.execute("CREATE TEMP TABLE moved AS SELECT * REPLACE (paid_at + INTERVAL 400 DAY AS paid_at) FROM marts.fct_payments")
    marts.execute("CREATE OR REPLACE VIEW marts.fct_payments AS SELECT * FROM moved")
    paid = marts.execute("SELECT min(paid_at)::DATE, max(paid_at)::DATE FROM moved").fetchone()
    assert explore.date_range(marts, "amount_paid") == paid and paid[0] > orders[1]
