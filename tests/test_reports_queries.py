"""The Evidence reports' queries and their data: every query runs on the published demo data, and a broken one is named."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from app.queries import business
from app.reports import metric_sources
from app.reports.queries import (
    PROJECT,
    ReportQuery,
    compile_query,
    input_defaults,
    load_sources,
    page_queries,
    pages,
    source_queries,
    validate,
)
from core import metastore
from core.errors import PlatformError
from publish.reader import connect_published, current_version
from publish.snapshot import QUALITY_TABLES, write_snapshot
from tests.support.project import settings_for, source_rows

PAGES = {"pages/index.md", "pages/sales.md", "pages/data-quality.md"}


@pytest.fixture(scope="module")
def snapshot(built):
    settings, _ = built
    return settings, write_snapshot(settings)


def _result(snapshot_path: Path, page: str, name: str, **inputs: dict[str, str]) -> list[tuple]:
    """One page query's rows, as `validate` computes them, with some inputs set as a reader would set them."""
    path = PROJECT / page
    queries = {q.name: q for q in page_queries(path)}
    with contextlib.closing(duckdb.connect()) as browser:
        _, failures = load_sources(browser, snapshot_path)
        assert not failures
        return browser.sql(compile_query(queries[name], queries, {**input_defaults(path), **inputs})).fetchall()


# Order totals and revenue straight from the SQLite source (an order's total is the sum of its lines).
LIVE_ORDERS = """
    SELECT o.id, o.customer_id, o.status, date(o.ordered_at) AS day,
           (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id) AS total
    FROM orders o WHERE o.deleted_at IS NULL
"""


def test_every_report_query_runs_on_the_published_demo_data(snapshot):
    settings, result = snapshot
    checked = validate(result.path)
    origins = {c.query.origin for c in checked}
    assert PAGES <= origins
    expected = len(source_queries()) + sum(len(page_queries(p)) for p in pages())
    assert len(checked) == expected
    rows = {c.query.label(): c.rows for c in checked}
    assert rows["sources/marts/fct_orders.sql, query `marts.fct_orders`"] == result.marts["fct_orders"]
    assert rows["sources/metrics/totals.sql, query `metrics.totals`"] == 1
    assert rows["sources/metrics/monthly.sql, query `metrics.monthly`"] == result.marts["monthly_revenue"]


def test_executive_summary_numbers_match_the_source(snapshot):
    settings, result = snapshot
    ((revenue, orders),) = source_rows(settings, f"SELECT round(sum(total), 2), count(*) FROM ({LIVE_ORDERS}) WHERE status != 'cancelled'")
    ((customers, placed),) = source_rows(
        settings, f"SELECT count(DISTINCT customer_id) FILTER (WHERE status != 'cancelled'), count(*) FROM ({LIVE_ORDERS})"
    )
    (totals,) = _result(result.path, "pages/index.md", "totals")
    assert round(totals[0], 2) == pytest.approx(revenue)
    assert totals[1:3] == (orders, placed)
    assert totals[3] == pytest.approx(revenue / orders, abs=0.005)
    assert totals[5] == customers


def test_sales_filters_narrow_the_numbers_as_the_source_does(snapshot):
    settings, result = snapshot
    city, first_day, last_day = "Berlin", "2025-02-01", "2025-03-31"
    ((count, revenue),) = source_rows(
        settings,
        f"""
        SELECT count(*), round(coalesce(sum(o.total) FILTER (WHERE o.status != 'cancelled'), 0), 2)
        FROM ({LIVE_ORDERS}) o JOIN customers c ON c.id = o.customer_id AND c.deleted_at IS NULL
        WHERE c.city = ? AND o.day BETWEEN ? AND ?
        """,
        (city, first_day, last_day),
    )
    assert count > 0, "the demo shop should have orders from Berlin in that period"
    inputs = {"city": {"value": city}, "period": {"start": first_day, "end": last_day}}
    (kpis,) = _result(result.path, "pages/sales.md", "kpis", **inputs)
    assert kpis[2] == count
    assert round(kpis[0], 2) == pytest.approx(revenue)
    (all_kpis,) = _result(result.path, "pages/sales.md", "kpis")
    assert all_kpis[2] == result.marts["fct_orders"]


def test_a_query_broken_by_a_model_change_fails_with_page_and_query_named(snapshot, tmp_path):
    settings, result = snapshot
    changed = tmp_path / "changed.duckdb"
    shutil.copy(result.path, changed)
    with contextlib.closing(duckdb.connect(str(changed))) as con:
        con.execute("ALTER TABLE marts.fct_payments RENAME COLUMN payment_method TO method")
    with pytest.raises(PlatformError) as caught:
        validate(changed)
    message = str(caught.value)
    assert "sources/metrics/payments_monthly.sql, query `metrics.payments_monthly`" in message
    assert "payment_method" in message
    # Pages that read the broken source fail too, each named.
    assert "pages/index.md, query `payment_mix`" in message
    assert "pages/index.md, query `totals`" not in message and "pages/sales.md" not in message


def test_a_broken_page_query_is_named(snapshot, tmp_path):
    settings, result = snapshot
    project = tmp_path / "reports"
    shutil.copytree(PROJECT / "sources", project / "sources")
    shutil.copytree(PROJECT / "pages", project / "pages")
    page = project / "pages" / "sales.md"
    page.write_text(page.read_text().replace("coalesce(sum(orders_placed), 0)", "coalesce(sum(orders_total), 0)"))
    with pytest.raises(PlatformError, match=r"pages/sales\.md, query `kpis`: .*orders_total"):
        validate(result.path, project)


def test_an_empty_source_result_is_refused_because_evidence_cannot_serve_it(snapshot, tmp_path):
    settings, result = snapshot
    project = tmp_path / "reports"
    shutil.copytree(PROJECT / "sources", project / "sources")
    (project / "pages").mkdir()
    (project / "sources" / "quality" / "nothing.sql").write_text("select * from quality.audit_results where false")
    with pytest.raises(PlatformError, match=r"sources/quality/nothing\.sql, query `quality\.nothing`: returns no rows"):
        validate(result.path, project)


def test_references_and_inputs_compile_as_evidence_compiles_them():
    queries = {
        "base": ReportQuery("pages/p.md", "base", "select * from marts.fct_orders where customer_city like '${inputs.city.value}'"),
        "top": ReportQuery("pages/p.md", "top", "select * from ${base} where order_date >= '${inputs.period.start}'"),
        "loop_a": ReportQuery("pages/p.md", "loop_a", "select * from ${loop_b}"),
        "loop_b": ReportQuery("pages/p.md", "loop_b", "select * from ${loop_a}"),
        "stray": ReportQuery("pages/p.md", "stray", "select '${inputs.nowhere.value}'"),
    }
    inputs = {"city": {"value": "%"}, "period": {"start": "2025-01-01", "end": "2025-12-31"}}
    assert compile_query(queries["top"], queries, inputs) == (
        "select * from (select * from marts.fct_orders where customer_city like '%') where order_date >= '2025-01-01'"
    )
    with pytest.raises(PlatformError, match="circular reference"):
        compile_query(queries["loop_a"], queries, inputs)
    with pytest.raises(PlatformError, match=r"pages/p\.md, query `stray`: .*no input component `nowhere`"):
        compile_query(queries["stray"], queries, inputs)


def test_input_defaults_are_read_from_the_page():
    defaults = input_defaults(PROJECT / "pages" / "sales.md")
    assert defaults["city"] == {"value": "%"}
    assert defaults["status"] == {"value": "%"}
    assert set(defaults["period"]) == {"start", "end"}


def test_code_blocks_that_are_not_named_queries_are_refused(tmp_path):
    page = tmp_path / "pages" / "p.md"
    page.parent.mkdir()
    page.write_text("# P\n\n```orders\nselect 1\n```\n")
    with pytest.raises(PlatformError, match=r"pages/p\.md: a code block starts with ```orders; write queries as ```sql <name>"):
        page_queries(page, tmp_path)
    page.write_text("# P\n\n```sh\njust reports\n```\n\n```sql one\nselect 1\n```\n")
    assert [q.name for q in page_queries(page, tmp_path)] == ["one"]


def test_snapshot_holds_the_published_marts_without_a_version_column(snapshot):
    settings, result = snapshot
    published = current_version(settings)
    assert result.version == published.version
    assert result.marts == published.rows
    with contextlib.closing(duckdb.connect(str(result.path), read_only=True)) as con:
        columns = [row[0] for row in con.execute("DESCRIBE marts.fct_orders").fetchall()]
        assert "version" not in columns
        (revenue,) = con.execute("SELECT sum(amount_revenue) FROM marts.daily_revenue").fetchone()
    ((expected,),) = source_rows(settings, f"SELECT round(sum(total), 2) FROM ({LIVE_ORDERS}) WHERE status != 'cancelled'")
    assert float(revenue) == pytest.approx(expected)


def test_snapshot_copies_the_health_tables_and_lists_the_empty_ones(tmp_path, built):
    source_settings, _ = built
    settings = settings_for(tmp_path / "data")
    shutil.copytree(source_settings.data_dir / "lake", settings.data_dir / "lake")
    ingest_done = "2026-01-10T08:00:00.000+00:00"
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        con.execute(
            "INSERT INTO job_runs (job, trigger, started_at, finished_at, status) VALUES ('ingest:shop', 'manual', ?, ?, 'success')",
            ("2026-01-10T07:59:00.000+00:00", ingest_done),
        )
        con.execute(
            "INSERT INTO audit_results VALUES ('2026-01-10T08:01:00+00:00', 'prod', 'marts.fct_orders', 'not_null', 1, 'failed', 3)"
        )
    result = write_snapshot(settings, now=dt.datetime(2026, 1, 11, 14, 0, tzinfo=dt.UTC))
    assert result.missing == ["contract_results", "monitor_results"]
    assert result.quality["audit_results"] == 1
    with contextlib.closing(duckdb.connect(str(result.path), read_only=True)) as con:
        audit = con.execute("SELECT checked_at, model, blocking, status, failed_rows FROM quality.audit_results").fetchall()
        assert audit == [(dt.datetime(2026, 1, 10, 8, 1), "marts.fct_orders", True, "failed", 3)]
        availability = dict(con.execute("SELECT table_name, is_available FROM quality.availability").fetchall())
        assert availability == {"audit_results": True, "contract_results": False, "monitor_results": False, "job_runs": True}
        assert set(QUALITY_TABLES) == set(availability)
        (freshness,) = con.execute("SELECT source, last_loaded_at, hours_since_load, sla_hours, status FROM quality.freshness").fetchall()
    # 30 hours after the last load, past the default 26-hour SLA.
    assert freshness == ("shop", dt.datetime(2026, 1, 10, 8, 0), pytest.approx(30.0), 26.0, "stale")
    # The page queries run on this snapshot too, and the data-quality page shows the failed audit.
    validate(result.path)
    (latest,) = _result(result.path, "pages/data-quality.md", "latest_audits")
    assert latest[1:6] == ("marts.fct_orders", "not_null", "blocking", "failed", 3)


def test_a_failed_snapshot_leaves_the_previous_one_in_place(tmp_path, built):
    source_settings, _ = built
    settings = settings_for(tmp_path / "data")
    shutil.copytree(source_settings.data_dir / "lake", settings.data_dir / "lake")
    first = write_snapshot(settings)
    before = first.path.read_bytes()
    Path(current_version(settings).files["dim_customers"]).unlink()
    with pytest.raises(PlatformError, match="published files of mart dim_customers are missing"):
        write_snapshot(settings)
    assert first.path.read_bytes() == before
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


def test_snapshot_before_any_publish_says_what_to_do(settings):
    with pytest.raises(PlatformError, match=r"Nothing has been published for prod yet: run `just run` first"):
        write_snapshot(settings)


def test_meta_store_with_a_table_missing_agreed_columns_is_named(tmp_path, built):
    source_settings, _ = built
    settings = settings_for(tmp_path / "data")
    shutil.copytree(source_settings.data_dir / "lake", settings.data_dir / "lake")
    settings.meta_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con, con:
        con.execute("CREATE TABLE contract_results (checked_at TEXT, source TEXT)")
    with pytest.raises(PlatformError, match="table contract_results does not have the agreed columns"):
        write_snapshot(settings)


def test_generated_metric_sources_are_what_the_definitions_compile_to(tmp_path):
    metric_sources.check()
    copy = tmp_path / "metrics"
    shutil.copytree(metric_sources.FOLDER, copy)
    (copy / "totals.sql").write_text((copy / "totals.sql").read_text().replace("is_cancelled = false", "TRUE"))
    (copy / "monthly.sql").unlink()
    with pytest.raises(PlatformError, match=r"\(monthly\.sql, totals\.sql\): run `just reports-sources`"):
        metric_sources.check(copy)
    metric_sources.write(copy)
    metric_sources.check(copy)


def test_the_same_kpi_is_the_same_number_in_the_report_and_in_the_app(snapshot):
    settings, result = snapshot
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = business.order_date_range(con)
        app = {k.metric: k.value for k in business.kpis(con, business.Period(first, last))}
        app_months = business.trends(con, business.Period(first, last), "month")
    (totals,) = _result(result.path, "pages/index.md", "totals")
    report = dict(zip(("revenue", "orders", "orders_placed", "average_order_value", "cancellation_rate", "customers"), totals, strict=True))
    for name in ("revenue", "orders", "average_order_value", "cancellation_rate"):
        assert report[name] == pytest.approx(app[name], rel=1e-12), name
    assert report["customers"] == app["new_customers"] + app["returning_customers"]
    monthly = _result(result.path, "pages/index.md", "monthly")
    assert [(m.date(), r, o) for m, r, o, *_ in monthly] == [
        (row.period_start, pytest.approx(row.revenue), row.orders) for row in app_months.itertuples()
    ]
