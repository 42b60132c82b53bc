"""The data API over real HTTP on loopback, on the small demo build's published marts.

Tests that publish or damage data work on their own copy of the published marts, so that the
session's `built` stays as other tests expect it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from api.background import running
from api.keys import hash_key, load_keys
from api.server import create_app
from core.errors import PlatformError
from core.lake import Lake
from core.run_context import open_run
from core.settings import Settings
from metrics import layer
from pipeline.recovery import doctor
from publish.marts import marts_folder, publish_marts
from publish.reader import connect_published
from publish.versions import read_sql, read_version, table_folder
from tests.support.project import ROOT, settings_for
from tests.support.s3server import free_port, wait_until_listening

pytestmark = pytest.mark.slow

BUSINESS_KEY, OPERATOR_KEY = "dsk_business-test-key", "dsk_operator-test-key"
BUSINESS_MARTS = ["daily_revenue", "fct_orders"]
API_ENV = {
    "PLATFORM__API__KEYS": "{biz: business, ops: operator}",
    "PLATFORM__API__MARTS": "{business: [" + ", ".join(BUSINESS_MARTS) + "]}",
}
KEY_HASHES = {"API_KEY_HASH_BIZ": hash_key(BUSINESS_KEY), "API_KEY_HASH_OPS": hash_key(OPERATOR_KEY)}
LEAKS = ("Traceback", 'File "', "/tmp", "/work", "site-packages", ".parquet", "_manifest", "duckdb")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def get(url: str, key: str | None = None, **headers: str) -> Reply:
    request = urllib.request.Request(url, headers={**({"X-API-Key": key} if key else {}), **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def api_settings(data_dir: Path, **env: str) -> Settings:
    return settings_for(data_dir, **API_ENV, **env)


def serving(settings: Settings):
    """The API with the test keys, served on a free loopback port from a thread; yields its base URL."""
    return running(create_app(settings, load_keys(settings, KEY_HASHES)))


def copy_of_published(built_settings: Settings, tmp_path: Path) -> Path:
    """A data folder holding a copy of the built published marts (curated layer) only."""
    data_dir = tmp_path / "data"
    shutil.copytree(built_settings.lake_root / "curated", data_dir / built_settings.lake.root / "curated")
    return data_dir


def published_rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def api(built) -> Iterator[tuple[str, Settings]]:
    """The API on the session's build (read only)."""
    settings = api_settings(built[0].data_dir)
    with serving(settings) as url:
        yield url, settings


def test_keys_come_from_the_environment_and_a_missing_or_bad_hash_is_named(tmp_path):
    settings = api_settings(tmp_path / "data")
    keys = load_keys(settings, KEY_HASHES)
    assert {(key.name, key.role) for key in keys} == {("biz", "business"), ("ops", "operator")}
    with pytest.raises(PlatformError, match="API_KEY_HASH_OPS.*just api-key ops"):
        load_keys(settings, {"API_KEY_HASH_BIZ": hash_key(BUSINESS_KEY)})
    with pytest.raises(PlatformError, match="API_KEY_HASH_BIZ is not a key hash"):
        load_keys(settings, {**KEY_HASHES, "API_KEY_HASH_BIZ": BUSINESS_KEY})


def test_every_auth_case_has_its_status_and_a_clear_body(api):
    url, _ = api
    missing = get(f"{url}/marts")
    assert missing.status == 401 and missing.json() == {"error": "unauthorized", "message": "No API key: send one in the X-API-Key header."}
    wrong = get(f"{url}/marts/daily_revenue/rows", key="dsk_not-a-key")
    assert wrong.status == 401 and wrong.json()["message"] == "The API key is not valid."
    forbidden = get(f"{url}/marts/dim_customers/rows", key=BUSINESS_KEY)
    assert forbidden.status == 403 and forbidden.json() == {
        "error": "forbidden",
        "message": "Key 'biz' (role business) may not read mart 'dim_customers'.",
    }
    assert get(f"{url}/marts/dim_customers", key=BUSINESS_KEY).status == 403
    assert get(f"{url}/marts/dim_customers/rows?limit=1", key=OPERATOR_KEY).status == 200
    assert get(f"{url}/marts/daily_revenue/rows?limit=1", key=BUSINESS_KEY).status == 200
    unknown = get(f"{url}/marts/no_such_mart/rows", key=OPERATOR_KEY)
    assert unknown.status == 404 and unknown.json()["error"] == "not_found"


def test_the_listing_shows_each_role_its_marts_with_the_published_schemas(api):
    url, settings = api
    con, published = connect_published(settings, role="operator")  # the operator key's view
    with contextlib.closing(con):
        expected = {
            name: [{"name": row[0], "type": row[1]} for row in con.execute(f"DESCRIBE marts.{name}").fetchall()] for name in published.files
        }
    everything = get(f"{url}/marts", key=OPERATOR_KEY)
    assert everything.status == 200 and everything.headers["x-data-version"] == published.version
    listing = everything.json()
    assert listing["version"] == published.version
    assert {mart["name"]: mart["columns"] for mart in listing["marts"]} == expected
    assert {mart["name"]: mart["rows"] for mart in listing["marts"]} == published.rows
    business = get(f"{url}/marts", key=BUSINESS_KEY).json()
    assert [mart["name"] for mart in business["marts"]] == BUSINESS_MARTS
    one = get(f"{url}/marts/fct_orders", key=BUSINESS_KEY).json()
    assert one == {
        "version": published.version,
        "name": "fct_orders",
        "rows": published.rows["fct_orders"],
        "columns": expected["fct_orders"],
    }


def test_filters_columns_and_order_select_what_the_published_mart_holds(api):
    url, settings = api
    reply = get(
        f"{url}/marts/fct_orders/rows?order_status=delivered&order_date__gte=2025-03-01&order_date__lt=2025-04-01"
        "&count_items__in=2,3&columns=order_id,order_date,amount_total&order=-amount_total,order_id&limit=100000",
        key=BUSINESS_KEY,
    )
    assert reply.status == 200
    page = reply.json()
    expected = published_rows(
        settings,
        "SELECT order_id, strftime(order_date, '%Y-%m-%d'), amount_total::DOUBLE FROM marts.fct_orders "
        "WHERE order_status = 'delivered' AND order_date >= DATE '2025-03-01' AND order_date < DATE '2025-04-01' "
        "AND count_items IN (2, 3) ORDER BY amount_total DESC, order_id",
    )
    assert len(expected) > 20
    assert [tuple(row.values()) for row in page["rows"]] == expected
    assert list(page["rows"][0]) == page["columns"] == ["order_id", "order_date", "amount_total"]
    assert page["next"] is None
    not_equal = get(f"{url}/marts/daily_revenue/rows?count_orders_placed__ne=10&limit=100000", key=BUSINESS_KEY).json()["rows"]
    assert sorted(row["revenue_date"] for row in not_equal) == [
        row[0]
        for row in published_rows(
            settings, "SELECT strftime(revenue_date, '%Y-%m-%d') FROM marts.daily_revenue WHERE count_orders_placed <> 10 ORDER BY 1"
        )
    ]


def test_bad_requests_say_which_parameter_and_leak_nothing(api):
    url, _ = api
    cases = {
        "/marts/fct_orders/rows?no_such_column=1": "no_such_column: the mart has no column 'no_such_column'",
        "/marts/fct_orders/rows?count_items__gte=many": "count_items__gte: 'many' is not a valid INTEGER.",
        "/marts/fct_orders/rows?count_items__like=1": "count_items__like: unknown operator 'like'",
        "/marts/fct_orders/rows?order=-nope": "order: the mart has no column 'nope'",
        "/marts/fct_orders/rows?limit=0": "limit:",
        "/marts/fct_orders/rows?version=..%2F..%2Fetc": "version:",
    }
    for path, message in cases.items():
        reply = get(url + path, key=BUSINESS_KEY)
        assert reply.status == 400, path
        assert reply.json()["error"] == "bad_request" and message in reply.json()["message"], path
        assert not any(leak in reply.body.decode() for leak in LEAKS), reply.body
    assert get(f"{url}/nowhere", key=BUSINESS_KEY).json()["error"] == "not_found"


def test_csv_parquet_and_arrow_hold_the_json_rows(api):
    url, _ = api
    query = f"{url}/marts/fct_orders/rows?order_date__gte=2025-02-01&order=ordered_at&limit=700"
    page = get(query, key=BUSINESS_KEY).json()
    bodies = {output: get(f"{query}&format={output}", key=BUSINESS_KEY) for output in ("csv", "parquet", "arrow")}
    assert bodies["csv"].headers["content-type"].startswith("text/csv")
    assert all(reply.headers["x-data-version"] == page["version"] for reply in bodies.values())
    parquet = pq.read_table(io.BytesIO(bodies["parquet"].body))
    arrow = pa.ipc.open_stream(bodies["arrow"].body).read_all()
    csv = pa_csv.read_csv(io.BytesIO(bodies["csv"].body), convert_options=pa_csv.ConvertOptions(column_types=parquet.schema))
    assert parquet.num_rows == 700 and arrow.equals(parquet) and csv.equals(parquet)
    assert [{name: _as_json(value) for name, value in row.items()} for row in parquet.to_pylist()] == page["rows"]
    link = bodies["parquet"].headers["link"]
    assert link == f'<{page["next"].replace("&version=", "&format=parquet&version=")}>; rel="next"'
    assert f"version={page['version']}&offset=700>" in link


def _as_json(value):
    """A Parquet value as DuckDB's JSON writes it."""
    if isinstance(value, bool) or value is None:
        return value
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int):
        return float(value)  # decimals and doubles are JSON numbers
    if hasattr(value, "isoformat"):
        return str(value)  # dates as 2025-01-01, timestamps as 2025-01-01 02:14:27
    return value


def test_an_unchanged_read_answers_304_with_its_etag(api):
    url, _ = api
    query = f"{url}/marts/fct_orders/rows?order_status=shipped&limit=50"
    first = get(query, key=BUSINESS_KEY)
    etag = first.headers["etag"]
    again = get(query, key=BUSINESS_KEY, **{"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == etag and again.headers["x-data-version"] == first.headers["x-data-version"]
    assert get(query + "&format=csv", key=BUSINESS_KEY).headers["etag"] != etag
    assert get(query + "&offset=50", key=BUSINESS_KEY, **{"If-None-Match": etag}).status == 200
    listing = get(f"{url}/marts", key=BUSINESS_KEY)
    assert get(f"{url}/marts", key=BUSINESS_KEY, **{"If-None-Match": listing.headers["etag"]}).status == 304


def test_each_key_is_rate_limited_with_retry_after(built):
    settings = api_settings(built[0].data_dir, PLATFORM__API__RATE_LIMIT_PER_MINUTE="3")
    with serving(settings) as url:
        statuses = [get(f"{url}/marts", key=BUSINESS_KEY).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = get(f"{url}/marts", key=BUSINESS_KEY)
        assert limited.status == 429 and limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert get(f"{url}/marts", key=OPERATOR_KEY).status == 200  # another key has its own allowance


def test_pages_cover_the_mart_exactly_while_new_versions_are_published(built, tmp_path):
    data_dir = copy_of_published(built[0], tmp_path)
    settings = api_settings(data_dir)
    whole = published_rows(settings, "SELECT to_json(t)::VARCHAR FROM marts.fct_orders t ORDER BY order_date DESC, order_id")
    first_version = read_version(Lake(settings), marts_folder(settings)).version
    with serving(settings) as url:
        rows, pages, link = [], 0, "/marts/fct_orders/rows?order=-order_date,order_id&limit=700"
        while link:
            page = get(url + link, key=OPERATOR_KEY).json()
            assert page["version"] == first_version
            rows.extend(json.dumps(row, separators=(",", ":")) for row in page["rows"])
            link, pages = page["next"], pages + 1
            if pages == 1:
                _publish_changed_orders(settings)
        assert pages == 5 and len(rows) == len(whole) == 3000
        assert rows == list(whole_row[0] for whole_row in whole)  # no row repeated, none skipped, none changed

        fresh = get(f"{url}/marts/fct_orders/rows?limit=100000", key=OPERATOR_KEY)
        assert fresh.headers["x-data-version"] != first_version and len(fresh.json()["rows"]) == 2000
        for _ in range(settings.run.publish_keep_versions):
            _publish_changed_orders(settings)
        gone = get(f"{url}/marts/fct_orders/rows?version={first_version}", key=OPERATOR_KEY)
        assert gone.status == 410 and gone.json()["error"] == "version_gone"
        assert first_version in gone.json()["message"]


def _publish_changed_orders(settings: Settings) -> None:
    """A new version in which a third of the orders are gone and the rest cost more."""
    published = read_version(Lake(settings), marts_folder(settings))
    con = duckdb.connect()
    with contextlib.closing(con):
        con.execute("CREATE SCHEMA marts")
        con.execute(
            f"CREATE TABLE marts.fct_orders AS SELECT * REPLACE (amount_total + 1000 AS amount_total) "
            f"FROM ({read_sql(published, 'fct_orders')}) WHERE order_id % 3 <> 0"
        )
        publish_marts(open_run(settings), ["marts.fct_orders"], source=con, personal={})


def test_failures_inside_the_api_leak_no_path_or_trace(built, tmp_path):
    data_dir = copy_of_published(built[0], tmp_path)
    settings = api_settings(data_dir)
    published = read_version(Lake(settings), marts_folder(settings))
    damaged = next(Path(table_folder(published.files["daily_revenue"])).glob("*.parquet"))
    damaged.write_bytes(b"not parquet at all")
    with serving(settings) as url:
        broken = get(f"{url}/marts/daily_revenue/rows?limit=5", key=OPERATOR_KEY)
        assert broken.status == 500 and broken.json()["error"] == "internal"
        assert not any(leak in broken.body.decode() for leak in LEAKS), broken.body
        (Path(marts_folder(settings)) / "_manifest.json").write_text("{ not json")
        unreadable = get(f"{url}/marts", key=OPERATOR_KEY)
        assert unreadable.status == 503 and unreadable.json()["error"] == "unavailable"
        assert not any(leak in unreadable.body.decode() for leak in LEAKS), unreadable.body


def test_just_api_serves_on_the_configured_port_and_refuses_to_start_without_keys(built):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM__", "API_KEY_HASH_"))}
    environ.update({"PLATFORM__DATA_DIR": str(built[0].data_dir), "PLATFORM__API__PORT": str(port), **API_ENV, **KEY_HASHES})
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve"], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until_listening(port)
        reply = get(f"http://127.0.0.1:{port}/marts", key=BUSINESS_KEY)
        assert reply.status == 200 and [mart["name"] for mart in reply.json()["marts"]] == BUSINESS_MARTS
        assert get(f"http://127.0.0.1:{port}/docs").status == 404  # off unless api.docs: Swagger UI loads from a CDN
        assert "/marts/{mart}/rows" in get(f"http://127.0.0.1:{port}/openapi.json").json()["paths"]
        filtered = get(f"http://127.0.0.1:{port}/marts/fct_orders/rows?order_status=ZQX7MARK%40example.com&limit=1", key=BUSINESS_KEY)
        assert filtered.status == 200 and filtered.json()["rows"] == []
    finally:
        process.terminate()
        process.wait(timeout=30)
    # the server's log (data/logs/api.out under `just start`) has each request's path, never its query values
    output = process.stdout.read() if process.stdout else ""
    assert '"GET /marts/fct_orders/rows HTTP/1.1" 200' in output
    assert "ZQX7MARK" not in output and "%40" not in output
    environ.pop("PLATFORM__API__KEYS")
    refused = subprocess.run([sys.executable, "-m", "api.cli", "serve"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "No API keys are configured" in refused.stderr and "Traceback" not in refused.stderr


def _metric_rows(frame) -> list[dict]:
    """metrics.layer's frame as the API's JSON rows: ISO days, plain numbers, null where a value is undefined."""
    return [{column: _plain(value) for column, value in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value != value:  # NaN: a ratio over zero
        return None
    return value.item() if hasattr(value, "item") else value


def test_metrics_are_listed_with_their_dimensions_for_the_marts_a_key_may_read(api, built):
    url, _ = api
    cat = layer.catalog()
    everything = get(f"{url}/metrics", key=OPERATOR_KEY)
    assert everything.status == 200 and everything.headers["x-data-version"] == everything.json()["version"]
    listed = {metric["name"]: metric for metric in everything.json()["metrics"]}
    assert list(listed) == list(cat.metrics)
    assert listed["revenue"] == {
        "name": "revenue",
        "label": "Revenue",
        "description": cat.metrics["revenue"].description,
        "format": "money",
        "owner": "analytics",
        "dimensions": [{"name": "order_status", "label": "Order status"}, {"name": "customer_city", "label": "City"}],
    }
    # The business role reads fct_orders but not dim_customers, which every order metric's city dimension reads.
    assert get(f"{url}/metrics", key=BUSINESS_KEY).json()["metrics"] == []
    forbidden = get(f"{url}/metrics/revenue", key=BUSINESS_KEY)
    assert forbidden.status == 403 and forbidden.json() == {
        "error": "forbidden",
        "message": "Key 'biz' (role business) may not read metric 'revenue' (it reads fct_orders, dim_customers).",
    }
    payments_only = settings_for(built[0].data_dir, **{**API_ENV, "PLATFORM__API__MARTS": "{business: [fct_payments]}"})
    with serving(payments_only) as other:
        assert [m["name"] for m in get(f"{other}/metrics", key=BUSINESS_KEY).json()["metrics"]] == ["amount_paid", "payments"]
        assert get(f"{other}/metrics/payments?grain=month", key=BUSINESS_KEY).status == 200
        assert get(f"{other}/metrics/orders", key=BUSINESS_KEY).status == 403


def test_a_metric_through_the_api_equals_the_semantic_layer_on_the_same_version(api):
    url, settings = api
    con, published = connect_published(settings, role="operator")  # the operator key's view
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
        start, end = first + dt.timedelta(days=20), last - dt.timedelta(days=10)
        by_city = layer.run(con, layer.Query(("revenue",), by=("customer_city",), grain="month", start=start, end=end))
        kept = layer.run(con, layer.Query(("orders",), grain="week", where=(("order_status", ("delivered", "shipped")),)))
        total = layer.run(con, layer.Query(("new_customers",)))
    reply = get(f"{url}/metrics/revenue?grain=month&by=customer_city&from={start}&to={end}", key=OPERATOR_KEY)
    assert reply.status == 200 and reply.headers["x-data-version"] == published.version
    body = reply.json()
    assert body["columns"] == ["period_start", "customer_city", "revenue"] and len(body["rows"]) > 20
    assert body["rows"] == _metric_rows(by_city)
    assert {k: body[k] for k in ("metric", "version", "grain", "by", "from", "to")} == {
        "metric": "revenue",
        "version": published.version,
        "grain": "month",
        "by": ["customer_city"],
        "from": str(start),
        "to": str(end),
    }
    filtered = get(f"{url}/metrics/orders?grain=week&where=order_status=delivered,shipped", key=OPERATOR_KEY).json()
    assert filtered["rows"] == _metric_rows(kept) and len(kept) > 5
    assert get(f"{url}/metrics/new_customers", key=OPERATOR_KEY).json()["rows"] == _metric_rows(total)
    csv = get(f"{url}/metrics/revenue?grain=month&by=customer_city&from={start}&to={end}&format=csv", key=OPERATOR_KEY)
    assert csv.headers["content-type"].startswith("text/csv") and csv.headers["x-data-version"] == published.version
    assert csv.body.decode().splitlines() == by_city.to_csv(index=False).splitlines()


def test_metric_queries_answer_304_when_unchanged_and_400_or_404_with_a_clear_message(api):
    url, _ = api
    query = f"{url}/metrics/orders?grain=month&by=order_status"
    first = get(query, key=OPERATOR_KEY)
    again = get(query, key=OPERATOR_KEY, **{"If-None-Match": first.headers["etag"]})
    assert again.status == 304 and again.body == b"" and again.headers["x-data-version"] == first.headers["x-data-version"]
    assert get(query + "&format=csv", key=OPERATOR_KEY).headers["etag"] != first.headers["etag"]
    unknown = get(f"{url}/metrics/profit", key=OPERATOR_KEY)
    assert unknown.status == 404 and unknown.json() == {
        "error": "not_found",
        "message": "There is no metric 'profit'; GET /metrics lists them.",
    }
    cases = {
        "/metrics/customers?by=order_status": "by: metric 'customers' cannot be cut by 'order_status'; its dimensions are: customer_city.",
        "/metrics/revenue?where=customer_email=a@example.com": "where: metric 'revenue' cannot be cut by 'customer_email'",
        "/metrics/revenue?where=customer_city": "where: write DIMENSION=VALUE",
        "/metrics/revenue?grain=fortnight": "grain:",
        "/metrics/revenue?from=2025-03-01&to=2025-02-01": "from: 2025-03-01 is after to (2025-02-01).",
        "/metrics/revenue?from=March": "from:",
        "/metrics/revenue?grian=month": "grian: not a parameter of a metric query",
        "/metrics/revenue?format=parquet": "format:",
    }
    for path, message in cases.items():
        reply = get(url + path, key=OPERATOR_KEY)
        assert reply.status == 400, path
        assert reply.json()["error"] == "bad_request" and message in reply.json()["message"], (path, reply.json())
        assert not any(leak in reply.body.decode() for leak in LEAKS), reply.body


def test_the_api_grains_are_the_layers():
    from typing import get_args

    from api.server import Grain
    from metrics import layer

    assert get_args(Grain) == layer.GRAINS


def test_a_current_version_that_lost_its_files_answers_503_until_doctor_publishes_again(built_copy):
    settings = api_settings(built_copy.data_dir)
    published = read_version(Lake(settings), marts_folder(settings))
    for files in published.files.values():  # the folders its files are in, its own or an older version's
        shutil.rmtree(table_folder(files), ignore_errors=True)
    with serving(settings) as url:
        for path in ("/marts/fct_orders/rows?limit=5", f"/marts/fct_orders/rows?limit=5&version={published.version}", "/metrics/revenue"):
            reply = get(url + path, key=OPERATOR_KEY)
            assert reply.status == 503 and reply.json()["error"] == "published_damaged", (path, reply.body)
            message = reply.json()["message"]
            assert published.version in message and "just doctor" in message and "None" not in message and "first page" not in message
            assert not any(leak in reply.body.decode() for leak in LEAKS), reply.body
        checked = {finding.what: finding for finding in doctor(settings, repair=False)}
        assert not checked["published marts and staging"].ok
        assert "are missing" in checked["published marts and staging"].detail
        doctor(settings, repair=True)
        fresh = get(url + "/marts/fct_orders/rows?limit=5", key=OPERATOR_KEY)
        assert fresh.status == 200 and fresh.headers["x-data-version"] != published.version
