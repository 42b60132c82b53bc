"""Every page of the Streamlit app under AppTest, on the demo build, an empty data folder and a dev environment."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.auth import hash_password
from core.run_context import open_run
from demo.day import advance_day
from metrics import layer
from pipeline.run import run_all
from publish.marts import publish_marts
from publish.reader import connect_published, current_version
from tests.support.app_pages import BUSINESS_PAGES, OPERATOR_PAGES, ORDERS, app_on, copy_build, download_labels, independent_kpis, number
from transform.lineage import personal_columns

pytestmark = pytest.mark.slow


def _charts(at) -> list:
    return at.get("vega_lite_chart")


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_overview_kpis_equal_sql_on_the_marts_and_the_period_is_in_the_url(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        last = con.execute("SELECT max(order_date) FROM marts.fct_orders").fetchone()[0]
        start, end = last - dt.timedelta(days=13), last
        expected = independent_kpis(con, start, end)
        before = independent_kpis(con, start - dt.timedelta(days=14), start - dt.timedelta(days=1))
        paid, payments = con.execute(
            "SELECT sum(amount_paid)::DOUBLE, count(*) FROM marts.fct_payments WHERE paid_at::DATE BETWEEN ? AND ?", (start, end)
        ).fetchone()
    at = app_on(settings.data_dir, monkeypatch, start=start.isoformat(), end=end.isoformat())
    _no_errors(at)
    assert at.title[0].value == "Overview"
    shown = {m.label: m for m in at.metric}
    assert set(shown) == set(expected)
    for name, value in expected.items():
        assert number(shown[name].value) == pytest.approx(value, abs=0.006 if name != "Cancellation rate" else 0.0006)
    assert shown[ORDERS].delta == f"{(expected[ORDERS] - before[ORDERS]) / before[ORDERS]:+.1%}"
    assert shown["Cancellation rate"].delta == f"{(expected['Cancellation rate'] - before['Cancellation rate']) * 100:+.1f} pts"
    assert at.query_params["start"] == [start.isoformat()] and at.query_params["end"] == [end.isoformat()]
    assert any("Download overview kpis" in label for label in download_labels(at))
    kpi_table = at.dataframe[0].value.set_index("KPI")
    assert list(kpi_table.columns) == ["This period", "Previous period", "Change"]
    assert kpi_table.loc["Revenue", "This period"] == f"€{expected['Revenue']:,.2f}"
    assert kpi_table.loc["Cancellation rate", "Change"] == shown["Cancellation rate"].delta
    assert [s.value for s in at.subheader] == ["How customers paid"]
    mix = at.dataframe[1].value
    assert list(mix.columns) == ["Payment method", "Amount paid", "Payments", "Share of amount paid"]
    assert mix["Amount paid"].sum() == pytest.approx(paid) and mix["Payments"].sum() == payments
    assert mix["Share of amount paid"].sum() == pytest.approx(1)


def test_trends_by_week_cover_the_period(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
        weeks = con.execute("SELECT count(DISTINCT date_trunc('week', order_date)) FROM marts.fct_orders").fetchone()[0]
        orders = con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "trends", start=first.isoformat(), end=last.isoformat(), grain="week")
    _no_errors(at)
    assert at.title[0].value == "Trends"
    assert len(_charts(at)) == 2
    frame = at.dataframe[0].value
    assert len(frame) == weeks and frame["Orders placed (incl. cancelled)"].sum() == orders
    cut = [
        day - dt.timedelta(days=day.weekday()) for day, whole in ((first, first.weekday() == 0), (last, last.weekday() == 6)) if not whole
    ]
    assert list(frame.columns) == [
        "Week starting",
        *(["Partial period"] if cut else []),
        "Revenue",
        "Orders (not cancelled)",
        "Orders placed (incl. cancelled)",
        "Cancelled orders",
    ]
    if cut:  # the table names the days each partial week covers, the CSV the same
        covered = {str(start): partial for start, partial in zip(frame["Week starting"], frame["Partial period"], strict=True) if partial}
        assert sorted(covered) == sorted(str(monday) for monday in cut)
        for monday in cut:
            assert covered[str(monday)] == f"{max(monday, first)} to {min(monday + dt.timedelta(days=6), last)}"
    notes = [c.value for c in at.caption if c.value.startswith("Partial weeks")]
    if cut:  # a week the range covers in part is named, not left as an unexplained dip
        assert notes and all(monday.isoformat() in notes[0] for monday in cut), notes
    else:
        assert not notes
    assert at.query_params["grain"] == ["week"]


def test_products_page_explains_a_publish_without_the_daily_product_mart(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    publish_marts(
        open_run(settings), ["marts.fct_orders", "marts.daily_revenue", "marts.dim_customers"], personal=personal_columns(settings)
    )
    at = app_on(settings.data_dir, monkeypatch, "products")
    _no_errors(at)
    assert "marts.product_daily_sales" in at.info[0].value and "dim_products.product_name" in at.info[0].value


def test_customers_page_shows_cohorts_ltv_and_top_customers(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        best = con.execute(
            "SELECT customer_id FROM marts.dim_customers ORDER BY amount_lifetime_value DESC, customer_id LIMIT 1"
        ).fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "customers")
    _no_errors(at)
    assert [s.value for s in at.subheader] == ["Cohort retention", "Lifetime value distribution", "Top customers"]
    assert len(_charts(at)) == 2
    assert at.dataframe[0].value["Customer ID"].iloc[0] == best
    assert len(download_labels(at)) == 3


def test_operator_pages_on_the_demo_build(built, monkeypatch):
    settings, _ = built
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        jobs = con.execute("SELECT count(DISTINCT job) FROM job_runs").fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "pipeline_health")
    _no_errors(at)
    assert number(next(m for m in at.metric if m.label == "Jobs").value) == jobs
    assert set(at.dataframe[0].value["Job"]) >= {"ingest:shop", "transform", "publish"}
    assert len(_charts(at)) == 1

    at.switch_page("views/freshness.py").run()
    _no_errors(at)
    marts = len(current_version(settings).files)
    assert {m.label: m.value for m in at.metric}[":green[●] Green"] == str(len(settings.sources) + marts)
    assert set(at.dataframe[0].value["Status"]) == {"Green"}  # the state as a word

    at.switch_page("views/lake.py").run()
    _no_errors(at)
    assert [m.label for m in at.metric] == ["raw", "staging", "curated"]
    usage = at.dataframe[0].value
    assert usage.loc[usage["Layer"] == "curated", "Files"].sum() >= 4  # three marts and a manifest

    at.switch_page("views/data_quality.py").run()
    _no_errors(at)
    assert at.title[0].value == "Data quality"


def test_catalog_lists_every_model_and_searches(built, monkeypatch):
    settings, _ = built
    at = app_on(settings.data_dir, monkeypatch, "catalog")
    _no_errors(at)
    models = at.dataframe[0].value
    assert {"marts.fct_orders", "marts.dim_customers", "marts.daily_revenue", "staging.stg_shop__orders", "raw_shop.orders"} <= set(
        models["Model"]
    )
    fct = models.set_index("Model").loc["marts.fct_orders"]
    assert (fct["Owner"], fct["Grain"], fct["Kind"]) == ("analytics", "order_id", "INCREMENTAL_BY_TIME_RANGE")
    assert "unique_values" in fct["Audits"]
    assert at.get("graphviz_chart")
    at.text_input[0].input("reconcil").run()
    assert at.dataframe[0].value["Model"].tolist() == ["marts.daily_revenue"]  # the one audited by assert_revenue_reconciles
    assert at.query_params["q"] == ["reconcil"]


def test_data_quality_shows_contracts_and_a_quarantine_sample(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    folder = settings.lake_root / "raw" / "shop" / "_quarantine" / "orders"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "id": [7, 8],
                "status": ["lost", "??"],
                "_check": ["accepted_values"] * 2,
                "_column": ["status"] * 2,
                "_failure": ["lost", "??"],
                "_dlt_load_id": ["1", "2"],
            }
        ),
        folder / "1.parquet",
    )
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con, con:
        # replace what the build recorded with known rows
        con.execute("DROP TABLE IF EXISTS contract_results")
        con.execute("DROP TABLE IF EXISTS audit_results")
        con.execute(
            "CREATE TABLE contract_results (checked_at TEXT, source TEXT, table_name TEXT, load_id TEXT, "
            "rows_in INTEGER, rows_valid INTEGER, rows_quarantined INTEGER)"
        )
        con.executemany(
            "INSERT INTO contract_results VALUES (?, 'shop', 'orders', ?, ?, ?, ?)",
            [("2026-01-01T00:00:00", "1", 100, 99, 1), ("2026-01-02T00:00:00", "2", 50, 49, 1)],
        )
        con.execute(
            "CREATE TABLE audit_results (checked_at TEXT, environment TEXT, model TEXT, audit TEXT, blocking INTEGER, "
            "status TEXT, failed_rows INTEGER)"
        )
        con.execute("INSERT INTO audit_results VALUES ('2026-01-02T00:00:00', 'prod', 'marts.fct_orders', 'not_null', 1, 'failed', 3)")
    at = app_on(settings.data_dir, monkeypatch, "data_quality")
    _no_errors(at)
    assert number(at.metric[0].value) == 1
    frames = [d.value for d in at.dataframe]
    assert frames[0]["Failed rows"].tolist() == [3]
    sample = frames[-1]
    assert sorted(sample["ID"]) == [7, 8] and set(sample["Failure"]) == {"lost", "??"}
    assert len(_charts(at)) == 2


def test_environments_and_the_switch_to_a_dev_environment(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    cutoff = "2025-03-01"
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path))) as con:
        con.execute("CREATE SCHEMA marts__dev")
        con.execute(f"CREATE VIEW marts__dev.fct_orders AS SELECT * FROM marts.fct_orders WHERE order_date < DATE '{cutoff}'")
        con.execute("CREATE VIEW marts__dev.daily_revenue AS SELECT * FROM marts.daily_revenue")
        con.execute("CREATE VIEW marts__dev.dim_customers AS SELECT * FROM marts.dim_customers")
    marts = ["marts.fct_orders", "marts.daily_revenue", "marts.dim_customers"]
    dev = publish_marts(open_run(settings), marts, "dev", personal=personal_columns(settings))
    at = app_on(settings.data_dir, monkeypatch, "environments")
    _no_errors(at)
    versions, rows = at.dataframe[0].value, at.dataframe[1].value
    assert versions["Environment"].tolist() == ["prod", "dev"] and versions["Version"].iloc[1] == dev.version
    fct = rows.set_index("Table").loc["fct_orders"]  # columns with a table missing in dev read as text: counts, or "–"
    assert set(rows.set_index("Table").loc["fct_payments", ["Rows dev", "Difference dev"]]) == {"–"}
    shown = {column: int(str(fct[column]).replace(",", "")) for column in ("Rows dev", "Difference dev", "Rows prod")}
    assert shown["Rows dev"] == dev.rows["fct_orders"] and shown["Difference dev"] == dev.rows["fct_orders"] - shown["Rows prod"] < 0
    assert [link.label for link in at.get("page_link")] == ["Business pages on prod", "Business pages on dev"]

    review = app_on(settings.data_dir, monkeypatch, env="dev", start="2025-02-01", end="2025-02-28")
    _no_errors(review)
    assert "Showing the **dev** environment" in review.sidebar.info[0].value
    dev_con, _ = connect_published(settings, "dev")
    with contextlib.closing(dev_con):
        orders = dev_con.execute(
            "SELECT count(*) FROM marts.fct_orders WHERE NOT is_cancelled AND order_date BETWEEN '2025-02-01' AND '2025-02-28'"
        ).fetchone()[0]
        dev_first = dev_con.execute("SELECT min(order_date) FROM marts.fct_orders").fetchone()[0]
    assert number(next(m for m in review.metric if m.label == ORDERS).value) == orders
    latest = app_on(settings.data_dir, monkeypatch, env="dev")  # default period: the newest app.default_period_days of dev's data
    days = settings.app.default_period_days
    assert latest.date_input[0].value == (max(dev_first, dt.date(2025, 2, 28) - dt.timedelta(days=days - 1)), dt.date(2025, 2, 28))
    assert "start" not in latest.query_params  # relative: a reload after new data shows the newest days


@pytest.mark.parametrize("page", BUSINESS_PAGES + OPERATOR_PAGES)
def test_before_the_first_run_every_page_says_what_to_run(page, tmp_path, monkeypatch):
    at = app_on(tmp_path / "empty", monkeypatch, page)
    assert not at.exception, [e.value for e in at.exception]
    if page != "catalog":  # the catalog reads the project's model files, which exist before any run
        texts = [i.value for i in at.info] + [m.value for m in at.markdown]
        assert any("just run" in text for text in texts), texts


def test_unreadable_published_data_is_explained(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    for file in (settings.lake_root / "curated" / "marts").rglob("data.parquet"):
        file.write_bytes(b"not parquet")
    at = app_on(settings.data_dir, monkeypatch)
    assert not at.exception
    assert "could not be read" in at.info[0].value
    (settings.lake_root / "curated" / "marts" / "_manifest.json").write_text("{broken")
    at = app_on(settings.data_dir, monkeypatch, "trends")
    assert not at.exception
    assert "unreadable" in at.info[0].value


def test_login_shows_each_role_its_pages(built, monkeypatch):
    settings, _ = built
    monkeypatch.setenv("PLATFORM__APP__USERS__ANNA__ROLE", "business")
    monkeypatch.setenv("PLATFORM__APP__USERS__OLEG__ROLE", "operator")
    monkeypatch.setenv("APP_PASSWORD_HASH_ANNA", hash_password("anna-secret"))
    monkeypatch.setenv("APP_PASSWORD_HASH_OLEG", hash_password("oleg-secret"))
    monkeypatch.setenv("APP_SESSION_SECRET", "s" * 32)
    at = app_on(settings.data_dir, monkeypatch)
    assert not at.metric and [t.label for t in at.text_input] == ["User", "Password"]
    at.text_input[0].input("anna")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert "wrong password" in at.error[0].value and not at.metric
    at.text_input[1].input("anna-secret")
    at.button[0].click().run().run()  # the browser reloads once the session cookie is set
    assert at.title[0].value == "Overview" and len(at.metric) == 6
    assert "Logged in as **anna** (business)" in at.sidebar.caption[0].value
    at.switch_page("views/lake.py").run()
    assert at.title[0].value == "Overview"  # not among a business user's pages: the default page instead

    operator = app_on(settings.data_dir, monkeypatch)
    operator.text_input[0].input("oleg")
    operator.text_input[1].input("oleg-secret")
    operator.button[0].click().run().run()
    operator.switch_page("views/lake.py").run()
    assert operator.title[0].value == "Lake"


def test_a_configured_user_without_a_hash_stops_the_app_with_the_variable_name(built, monkeypatch):
    settings, _ = built
    monkeypatch.setenv("PLATFORM__APP__USERS__ZOE__ROLE", "operator")
    monkeypatch.delenv("APP_PASSWORD_HASH_ZOE", raising=False)
    at = app_on(settings.data_dir, monkeypatch)
    assert not at.exception
    assert "APP_PASSWORD_HASH_ZOE" in at.error[0].value


def test_configured_users_without_a_session_secret_stop_the_app_naming_it(built, monkeypatch):
    settings, _ = built
    monkeypatch.setenv("PLATFORM__APP__USERS__ZOE__ROLE", "operator")
    monkeypatch.setenv("APP_PASSWORD_HASH_ZOE", hash_password("zoe-secret"))
    monkeypatch.setenv("APP_SESSION_SECRET", "too-short")
    at = app_on(settings.data_dir, monkeypatch)
    assert not at.exception and not at.text_input
    assert "APP_SESSION_SECRET is shorter than 32 characters" in at.error[0].value and "too-short" not in at.error[0].value


def test_a_new_publish_invalidates_the_cached_queries(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    at = app_on(settings.data_dir, monkeypatch, start="2025-01-01", end="2025-06-30")
    orders_before = number(next(m for m in at.metric if m.label == ORDERS).value)
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path))) as con:
        con.execute("CREATE TABLE main.fewer_orders AS SELECT * FROM marts.fct_orders WHERE order_date < DATE '2025-03-01'")
        con.execute("CREATE OR REPLACE VIEW marts.fct_orders AS SELECT * FROM main.fewer_orders")
        expected = con.execute("SELECT count(*) FROM main.fewer_orders WHERE NOT is_cancelled").fetchone()[0]
    publish_marts(
        open_run(settings), ["marts.fct_orders", "marts.daily_revenue", "marts.dim_customers"], personal=personal_columns(settings)
    )
    at.run()  # same filters, so the same query arguments: only the published version differs
    assert number(next(m for m in at.metric if m.label == ORDERS).value) == expected < orders_before


def test_products_page_ranks_products_from_the_published_marts(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
        best, revenue = con.execute(
            "SELECT product_id, sum(amount_line)::DOUBLE AS revenue FROM marts.fct_order_items WHERE NOT is_cancelled "
            "GROUP BY product_id ORDER BY revenue DESC, product_id LIMIT 1"
        ).fetchone()
        total = con.execute("SELECT sum(amount_line)::DOUBLE FROM marts.fct_order_items WHERE NOT is_cancelled").fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "products", start=first.isoformat(), end=last.isoformat(), grain="month")
    _no_errors(at)
    assert not at.info and len(_charts(at)) == 2
    assert [s.value for s in at.subheader] == ["Top products by revenue", "Category revenue over time"]
    ranking = at.dataframe[0].value
    assert ranking["Product ID"].iloc[0] == best
    assert ranking["Revenue"].iloc[0] == pytest.approx(revenue)
    assert ranking["Share of revenue"].iloc[0] == pytest.approx(revenue / total)


def test_a_malformed_environment_in_the_url_falls_back_to_prod(built, monkeypatch):
    settings, _ = built
    at = app_on(settings.data_dir, monkeypatch, env="dev; drop")
    _no_errors(at)
    assert "not an environment name" in at.sidebar.warning[0].value
    assert at.title[0].value == "Overview" and len(at.metric) == 6


def test_explore_answers_from_the_url_and_keeps_its_state_there(built, monkeypatch):
    settings, _ = built
    state = dict(
        metrics="revenue,average_order_value",
        grain="month",
        by="customer_city",
        compare="1",
        filter="customer_city",
        values="Berlin,Vienna",
        start="2025-02-01",
        end="2025-04-30",
    )
    at = app_on(settings.data_dir, monkeypatch, "explore", **state)
    _no_errors(at)
    assert at.title[0].value == "Explore"
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        where = (("customer_city", ("Berlin", "Vienna")),)
        expected = layer.run(
            con,
            layer.Query(
                ("revenue", "average_order_value"),
                by=("customer_city",),
                grain="month",
                start=dt.date(2025, 2, 1),
                end=dt.date(2025, 4, 30),
                where=where,
            ),
        )
        total = layer.run(con, layer.Query(("revenue",), start=dt.date(2025, 2, 1), end=dt.date(2025, 4, 30), where=where))
    table = at.dataframe[0].value
    assert list(table.columns) == ["Month", "City", "Revenue", "Average order value"]
    assert len(table) == len(expected) == 6 and set(table["City"]) == {"Berlin", "Vienna"}
    assert table["Revenue"].sum() == pytest.approx(expected["revenue"].sum())
    assert number(next(m for m in at.metric if m.label == "Revenue").value) == pytest.approx(total["revenue"].iloc[0], abs=0.006)
    assert len(_charts(at)) == 2
    for key, value in state.items():
        assert at.query_params[key] == [value]
    assert any("Download explore" in label for label in download_labels(at))

    at.query_params["metrics"] = "revenue,amount_paid"
    at.run()
    assert not at.exception and "query them apart" in at.warning[0].value


def test_the_default_period_follows_new_data_and_a_picked_one_follows_the_user(built, tmp_path, monkeypatch):
    settings = copy_build(built[0], tmp_path / "data")
    at = app_on(settings.data_dir, monkeypatch)
    first_window = at.date_input[0].value
    days = settings.app.default_period_days
    assert "start" not in at.query_params and first_window[1] - first_window[0] == dt.timedelta(days=days - 1)
    assert f"newest {days} days" in at.date_input[0].help
    for page in ("trends", "products", "explore"):  # one default period on every business page
        at.switch_page(f"views/{page}.py").run()
        assert at.date_input[0].value == first_window and "start" not in at.query_params, page
    at.switch_page("views/overview.py").run()
    advance_day(settings.source_path(settings.demo.source), seed=settings.demo.seed)
    run_all(settings)
    at.run()  # a reload: the window moves with the newest day
    assert at.date_input[0].value[1] == first_window[1] + dt.timedelta(days=1)
    picked = (first_window[0] - dt.timedelta(days=10), first_window[1] - dt.timedelta(days=10))
    at.date_input[0].set_value(picked).run()
    assert at.query_params["start"] == [picked[0].isoformat()] and at.query_params["end"] == [picked[1].isoformat()]
    at.switch_page("views/trends.py").run()  # the next page keeps the chosen days
    assert at.date_input[0].value == picked


def test_a_link_with_dates_outside_the_data_says_what_it_shows(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
    early = first - dt.timedelta(days=40)
    at = app_on(settings.data_dir, monkeypatch, "trends", start=early.isoformat(), end=last.isoformat())
    _no_errors(at)
    assert at.date_input[0].value == (first, last)
    assert f"asks for {early} to {last}" in at.info[0].value and f"so this is {first} to {last}" in at.info[0].value
    at.query_params["start"], at.query_params["end"] = "2025-13-01", last.isoformat()
    at.run()
    assert "`start=2025-13-01` is not a date" in at.warning[0].value and at.date_input[0].value[1] == last


def test_every_table_reads_as_a_user_sees_it(built, monkeypatch):
    """Headers in words, every number and time with a display format: what the grid draws (its canvas is not text)."""
    settings, _ = built
    snake_case = re.compile(r"^_?[a-z0-9]+(_[a-z0-9]+)+$")
    at = app_on(settings.data_dir, monkeypatch)
    checked = 0
    for page in [*BUSINESS_PAGES, "trends?grain=week", *OPERATOR_PAGES, "access_log"]:
        name, _, grain = page.partition("?grain=")
        if grain:
            at.query_params["grain"] = grain
        at.switch_page(f"views/{name}.py").run()
        _no_errors(at)
        for table in at.dataframe:
            config = json.loads(table.proto.columns)
            frame = table.value
            assert not [c for c in frame.columns if snake_case.match(str(c))], f"{page}: {list(frame.columns)}"
            for column in frame.columns:
                kind = config.get(column, {}).get("type_config", {})
                if pd.api.types.is_bool_dtype(frame[column]):
                    assert kind.get("type") == "checkbox", (page, column, kind)
                elif pd.api.types.is_numeric_dtype(frame[column]):
                    assert kind.get("type") == "number" and kind.get("format"), (page, column, kind)
                elif pd.api.types.is_datetime64_any_dtype(frame[column]):
                    assert kind.get("type") in ("date", "datetime") and kind.get("format"), (page, column, kind)
                    if kind["type"] == "datetime":
                        assert kind.get("timezone") == "UTC", (page, column, kind)
                    else:
                        assert "H" not in kind["format"], (page, column, kind)
            checked += 1
    assert checked >= 12


def _chart_data(chart) -> pd.DataFrame:
    """The one data set a chart draws, as the browser receives it (Arrow)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    proto = chart.proto
    (arrow,) = [d.data.data for d in proto.datasets] if proto.datasets else [proto.data.data]
    return convert_arrow_bytes_to_pandas_df(arrow)


def _mart(at):
    return next(box for box in at.selectbox if box.label == "Mart")


def test_data_browser_shows_a_mart_filtered_and_sorted_as_sql_on_the_published_marts(built, monkeypatch):
    settings, _ = built
    con, published = connect_published(settings)
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
        start, end = first + dt.timedelta(days=10), last - dt.timedelta(days=10)
        where = "order_status = 'delivered' AND order_date BETWEEN ? AND ? AND amount_total >= 50"
        expected = con.execute(
            f"SELECT order_id, amount_total FROM marts.fct_orders WHERE {where} ORDER BY amount_total DESC NULLS LAST, order_id",
            (start, end),
        ).fetchall()
        weeks = con.execute(
            f"SELECT date_trunc('week', ordered_at)::DATE, count(*) FROM marts.fct_orders WHERE {where} GROUP BY 1 ORDER BY 1", (start, end)
        ).fetchall()
        schema = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'fct_orders' ORDER BY ordinal_position"
        ).fetchall()
    query = {
        "table": "fct_orders",
        "f_order_status": "eq:delivered",
        "f_order_date": f"range:{start}~{end}",
        "f_amount_total": "range:50~",
        "sort": "amount_total",
        "desc": "1",
        "time": "ordered_at",
    }
    at = app_on(settings.data_dir, monkeypatch, "browser", **query)
    _no_errors(at)
    assert at.title[0].value == "Data browser"
    assert _mart(at).options == sorted(published.files)
    shown_schema = at.dataframe[0].value
    assert list(zip(shown_schema["Column"], shown_schema["Type"], strict=True)) == schema
    assert "One row per live order" in " ".join(c.value for c in at.caption)  # the model's description, from the catalog
    assert at.multiselect[0].value == ["order_status", "order_date", "amount_total"]  # the URL's filters, in column order
    assert at.subheader[0].value == f"{len(expected):,} matching rows"
    sample = at.dataframe[1].value
    assert len(expected) > 1000 and f"The first 1,000 of {len(expected):,} matching rows" in " ".join(c.value for c in at.caption)
    assert list(sample["Order ID"]) == [order_id for order_id, _ in expected[:1000]]
    assert sample["Total"].tolist() == pytest.approx([float(amount) for _, amount in expected[:1000]])
    assert len(_charts(at)) == 1
    data = _chart_data(_charts(at)[0])
    assert data["count_rows"].tolist() == [n for _, n in weeks] and data["count_rows"].sum() == len(expected)
    assert len(data) == len(weeks)  # about a quarter of the demo's days: one bar per week
    assert download_labels(at) == ["Download fct orders (CSV)"]
    for key, value in query.items():
        assert at.query_params[key] == [value], key

    # another mart drops the first one's filters from the URL; a mart without a time column has no chart
    _mart(at).set_value("payment_method_mix").run()
    _no_errors(at)
    assert not [k for k in at.query_params if k.startswith("f_")] and at.query_params["table"] == ["payment_method_mix"]
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        total = con.execute("SELECT count(*) FROM marts.payment_method_mix").fetchone()[0]
        has_time = con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'payment_method_mix' "
            "AND (data_type = 'DATE' OR data_type LIKE 'TIMESTAMP%')"
        ).fetchone()[0]
    assert at.subheader[0].value == f"{total:,} matching rows"
    assert len(_charts(at)) == (1 if has_time else 0)


def test_data_browser_text_contains_filter_and_a_bad_url_are_handled(built, monkeypatch):
    settings, _ = built
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        needle = con.execute("SELECT lower(substr(product_name, 2, 3)) FROM marts.dim_products ORDER BY product_id LIMIT 1").fetchone()[0]
        expected = con.execute("SELECT count(*) FROM marts.dim_products WHERE contains(lower(product_name), ?)", (needle,)).fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "browser", table="dim_products", f_product_name=f"contains:{needle.upper()}")
    _no_errors(at)
    assert at.subheader[0].value == f"{expected:,} matching rows" and 0 < expected
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        day, orders = con.execute("SELECT order_date, count(*) FROM marts.fct_orders GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").fetchone()
        three = con.execute("SELECT count(*) FROM marts.fct_orders WHERE order_date = ? AND count_items = 3", (day,)).fetchone()[0]
        everything = con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0]
    at = app_on(settings.data_dir, monkeypatch, "browser", table="fct_orders", f_order_date=f"eq:{day}")
    _no_errors(at)
    assert at.subheader[0].value == f"{orders:,} matching rows"
    at = app_on(settings.data_dir, monkeypatch, "browser", table="fct_orders", f_order_date=f"eq:{day}", f_count_items="eq:3")
    assert at.subheader[0].value == f"{three:,} matching rows"
    at = app_on(settings.data_dir, monkeypatch, "browser", table="fct_orders", f_amount_total="range:a~b", f_is_cancelled="contains:x")
    _no_errors(at)
    assert "left out: amount_total, is_cancelled" in at.warning[0].value
    assert at.subheader[0].value == f"{everything:,} matching rows" and not [k for k in at.query_params if k.startswith("f_")]
    at = app_on(settings.data_dir, monkeypatch, "browser", table="no_such_mart", sort="no_such_column", f_x="range:a~b")
    _no_errors(at)  # an unknown mart shows the first one; unknown columns are dropped
    assert at.query_params["table"] == [_mart(at).options[0]]
    assert "sort" not in at.query_params and "f_x" not in at.query_params
