"""REST APIs: page-number, offset and cursor pagination against a real HTTP server on loopback
that demands a token and injects 429 and 5xx answers; every record lands exactly once."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from core.errors import PlatformError
from core.run_context import open_run
from ingest.pipeline import PartialIngest, ingest_source
from tests.support.sources import quarantine, raw, settings_with_sources

TOKEN = "s3cret-token"
PAGE = 10


class ShopApi:
    """Records by endpoint, and which requests fail once (429 with Retry-After, then 503)."""

    def __init__(self) -> None:
        self.records = {
            "orders": [{"id": i, "status": "paid", "updated_at": f"2025-03-{1 + i // 10:02d}T10:{i % 60:02d}:00"} for i in range(1, 36)],
            "customers": [{"id": i, "name": f"C{i}"} for i in range(1, 24)],
            "events": [{"id": i, "kind": "click"} for i in range(1, 18)],
        }
        self.fail_once = {
            ("orders", "page=2"): 429,
            ("orders", "page=3"): 503,
            ("customers", "offset=10"): 500,
            ("events", "cursor=10"): 429,
        }
        self.gone: set[str] = set()  # endpoints answered 404
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def answer(self, path: str, query: dict, auth: str | None) -> tuple[int, dict, dict]:
        endpoint = path.strip("/")
        if auth != f"Bearer {TOKEN}":
            return 401, {}, {"error": "unauthorized"}
        if endpoint in self.gone:
            return 404, {}, {"error": "not found"}
        for key, value in query.items():
            if (endpoint, f"{key}={value}") in self.fail_once:
                status = self.fail_once.pop((endpoint, f"{key}={value}"))
                return status, {"Retry-After": "1"} if status == 429 else {}, {"error": "try again"}
        rows = self.records[endpoint]
        if endpoint == "orders":
            since = query.get("updated_since")
            rows = [r for r in rows if since is None or r["updated_at"] > since]
            page = int(query.get("page", 1))
            return 200, {}, {"data": rows[(page - 1) * PAGE : page * PAGE]}
        if endpoint == "customers":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", PAGE))
            return 200, {}, {"items": rows[offset : offset + limit], "total": len(rows)}
        start = int(query.get("cursor", 0))
        chunk = rows[start : start + PAGE]
        following = start + PAGE if start + PAGE < len(rows) else None
        return 200, {}, {"results": chunk, "next_cursor": following}


@pytest.fixture
def api():
    shop = ShopApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with shop.lock:
                status, headers, body = shop.answer(url.path, query, self.headers.get("Authorization"))
                shop.requests.append((url.path, url.query, status))
            payload = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shop.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield shop
    server.shutdown()
    server.server_close()
    thread.join()


def _declaration(url: str, **extra) -> dict:
    return {
        "kind": "rest_api",
        "base_url": url,
        "auth": {"type": "bearer", "token_env": "SHOP_API_TOKEN"},
        "backoff_seconds": 0.01,
        "max_retry_delay_seconds": 0.05,  # Retry-After: 1 is capped to this in tests
        "max_attempts": 4,
        "endpoints": {
            "orders": {
                "path": "orders",
                "data_selector": "data",
                "paginator": {"type": "page_number", "page_param": "page", "base_page": 1},
                "incremental": {"param": "updated_since", "cursor_path": "updated_at", "initial_value": "2000-01-01T00:00:00"},
            },
            "customers": {
                "path": "customers",
                "data_selector": "items",
                "paginator": {"type": "offset", "limit": PAGE, "total_path": "total"},
            },
            "events": {
                "path": "events",
                "data_selector": "results",
                "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            },
        },
        **extra,
    }


def test_every_record_lands_exactly_once_through_retries_and_pagination(tmp_path, api):
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url)}, SHOP_API_TOKEN=TOKEN)
    result = ingest_source(open_run(settings), "api")
    assert result.rows == {"orders": 35, "customers": 23, "events": 17}
    for table, total in result.rows.items():
        assert raw(settings, "api", table, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t") == [(total, total, 1, total)]
    statuses = [status for _, _, status in api.requests]
    assert statuses.count(429) == 2 and statuses.count(503) == 1 and statuses.count(500) == 1
    assert api.fail_once == {}  # every injected failure was met and retried

    # the incremental parameter carries the highest cursor seen; only newer orders come back
    api.records["orders"].append({"id": 36, "status": "placed", "updated_at": "2025-03-09T00:00:00"})
    api.requests.clear()
    again = ingest_source(open_run(settings), "api")
    assert again.rows.get("orders") == 1
    orders_queries = [parse_qs(q) for p, q, _ in api.requests if p == "/orders"]
    assert orders_queries and all(q["updated_since"] == ["2025-03-04T10:35:00"] for q in orders_queries)
    assert raw(settings, "api", "orders", "SELECT count(*), count(DISTINCT id) FROM t") == [(36, 36)]


def test_missing_token_stops_startup_naming_the_variable(tmp_path, api):
    with pytest.raises(PlatformError, match="SHOP_API_TOKEN"):
        settings_with_sources(tmp_path, {"api": _declaration(api.url)})


def test_wrong_token_fails_clearly_without_printing_it(tmp_path, api):
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url)}, SHOP_API_TOKEN="wrong-token")
    with pytest.raises(PlatformError) as caught:
        ingest_source(open_run(settings), "api")
    assert "401" in str(caught.value) and "wrong-token" not in str(caught.value)
    assert not (settings.lake_root / "raw" / "api" / "orders").exists()


def test_records_of_one_key_a_page_cannot_tell_apart_go_to_quarantine(tmp_path, api):
    # events (no cursor): id 3 twice, differing; id 5 twice, equal. orders (cursor updated_at): id 4 in two versions
    # at two times, which staging tells apart; id 6 in two versions at one time, which it cannot.
    api.fail_once.clear()
    api.records["events"] = [{"id": 1, "kind": "a"}, {"id": 3, "kind": "a"}, {"id": 3, "kind": "b"}, {"id": 5, "kind": "c"}]
    api.records["events"] += [{"id": 5, "kind": "c"}, {"id": 7, "kind": "d"}]
    at = lambda minute: f"2025-03-01T10:{minute:02d}:00"
    api.records["orders"] = [{"id": 4, "status": "placed", "updated_at": at(1)}, {"id": 4, "status": "paid", "updated_at": at(2)}]
    api.records["orders"] += [{"id": 6, "status": "placed", "updated_at": at(3)}, {"id": 6, "status": "paid", "updated_at": at(3)}]
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url, quality={"max_bad_share": 1})}, SHOP_API_TOKEN=TOKEN)
    result = ingest_source(open_run(settings), "api")

    assert raw(settings, "api", "events", "SELECT id, kind FROM t ORDER BY ALL") == [(1, "a"), (5, "c"), (5, "c"), (7, "d")]
    assert quarantine(settings, "api", "events", "SELECT id, kind, _check FROM q ORDER BY ALL") == [
        ("3", "a", "duplicate_key"),
        ("3", "b", "duplicate_key"),
    ]
    assert raw(settings, "api", "orders", "SELECT id, status FROM t ORDER BY ALL") == [(4, "paid"), (4, "placed")]
    assert quarantine(settings, "api", "orders", "SELECT id, status, _failure FROM q ORDER BY ALL") == [
        ("6", "paid", "another row of this key has the same cursor value"),
        ("6", "placed", "another row of this key has the same cursor value"),
    ]
    assert {table: n for table, n in result.quarantined.items() if n} == {"events": 2, "orders": 2}


def test_an_endpoint_whose_records_fail_its_load_stops_no_other_endpoint(tmp_path, api):
    api.fail_once.clear()
    good_events = api.records["events"]
    api.records["events"] = [{"id": None, "kind": "keyless"}] * 3 + [{"id": 1, "kind": "ok"}]  # 3 of 4 without a key
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url)}, SHOP_API_TOKEN=TOKEN)
    with pytest.raises(PartialIngest) as caught:
        ingest_source(open_run(settings), "api")
    partial = caught.value.result
    assert list(partial.failed_tables) == ["events"] and "api.events: 3 of 4 rows" in partial.failed_tables["events"]
    assert "Loading api failed for api.events" in str(caught.value) and "keyless" not in str(caught.value)
    assert partial.rows == {"orders": 35, "customers": 23}
    assert raw(settings, "api", "orders") == [(35,)] and raw(settings, "api", "customers") == [(23,)]

    # fixed, the endpoint loads; the incremental endpoint's cursor moved with its load and reads nothing again
    api.records["events"] = good_events
    result = ingest_source(open_run(settings), "api")
    assert result.rows.get("events") == 17 and not result.rows.get("orders")
    assert raw(settings, "api", "events") == [(17,)] and raw(settings, "api", "orders") == [(35,)]


def test_an_endpoint_the_api_no_longer_serves_stops_no_other(tmp_path, api):
    api.fail_once.clear()
    api.gone = {"customers"}
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url)}, SHOP_API_TOKEN=TOKEN)
    with pytest.raises(PartialIngest) as caught:
        ingest_source(open_run(settings), "api")
    partial = caught.value.result
    assert list(partial.failed_tables) == ["customers"] and "404" in partial.failed_tables["customers"]
    assert partial.rows == {"orders": 35, "events": 17} and TOKEN not in str(caught.value)
    # every endpoint refused: nothing loads, and each is named
    api.gone = {"orders", "customers", "events"}
    with pytest.raises(PlatformError) as every:
        ingest_source(open_run(settings), "api")
    assert not isinstance(every.value, PartialIngest) and "each of its tables failed" in str(every.value)
    assert all(f"'{endpoint}'" in str(every.value) for endpoint in ("orders", "customers", "events"))
    # the URLs named leave their query out: it holds the cursor's last value, a record's
    assert "/orders?…" in str(every.value) and "2025-03" not in str(every.value)


def test_a_record_that_differs_from_one_an_earlier_page_loaded_goes_to_quarantine(tmp_path, api):
    # pages of 10. events (no cursor): id 3 on page 1, again differing on page 2; id 5 on both pages, equal.
    # orders (cursor updated_at): id 6 on page 1, again on page 3 at the same time, differing; id 8 again later on.
    api.fail_once.clear()
    filler = lambda start, count: [{"id": i, "kind": "x"} for i in range(start, start + count)]
    api.records["events"] = [{"id": 3, "kind": "a"}, {"id": 5, "kind": "c"}, *filler(100, 8)]
    api.records["events"] += [{"id": 3, "kind": "b"}, {"id": 5, "kind": "c"}, *filler(200, 3)]
    at = lambda minute: f"2025-03-01T10:{minute:02d}:00"
    orders = [{"id": 1000 + i, "status": "paid", "updated_at": at(0)} for i in range(30)]
    orders[2] = {"id": 6, "status": "placed", "updated_at": at(0)}
    orders[25] = {"id": 6, "status": "paid", "updated_at": at(0)}
    orders[4] = {"id": 8, "status": "placed", "updated_at": at(0)}
    orders[27] = {"id": 8, "status": "paid", "updated_at": at(1)}  # a later version: staging keeps it
    api.records["orders"] = orders
    settings = settings_with_sources(tmp_path, {"api": _declaration(api.url, quality={"max_bad_share": 1})}, SHOP_API_TOKEN=TOKEN)
    result = ingest_source(open_run(settings), "api")

    assert raw(settings, "api", "events", "SELECT id, kind FROM t WHERE id < 100 ORDER BY ALL") == [(3, "a"), (5, "c"), (5, "c")]
    assert quarantine(settings, "api", "events", "SELECT id, kind, _check, _failure FROM q") == [
        ("3", "b", "duplicate_key", "a record of this key and cursor value on an earlier page differs (that one loaded)")
    ]
    assert raw(settings, "api", "orders", "SELECT id, status FROM t WHERE id < 100 ORDER BY ALL") == [
        (6, "placed"),
        (8, "paid"),
        (8, "placed"),
    ]
    assert quarantine(settings, "api", "orders", "SELECT id, status FROM q") == [("6", "paid")]
    assert {table: n for table, n in result.quarantined.items() if n} == {"events": 1, "orders": 1}
