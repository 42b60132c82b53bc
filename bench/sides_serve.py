"""Serve sides: the dashboard's queries on the published marts, and a read through the data API; cold and cached."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from typing import Any

from api.background import running
from api.keys import ApiKey, hash_key, new_key
from api.server import create_app
from app.queries.business import order_date_range
from bench.queries import DASHBOARD_QUERIES, result_rows
from core.settings import Settings
from publish.reader import connect_published


def cold(settings: Settings, params: dict) -> dict:
    """Each query in a fresh connection (this process is fresh too): connect, query, fetch."""
    timings: dict[str, list[float]] = {}
    rows: dict[str, Any] = {}
    dates: tuple[Any, ...] = (None, None)
    for name, query in DASHBOARD_QUERIES.items():
        started = time.perf_counter()
        con, _ = connect_published(settings)
        result = query(con, *dates)
        timings[name] = [time.perf_counter() - started]
        con.close()
        rows[name] = result_rows(result)
        if name == "order_date_range":
            dates = result  # the pages ask for it first and pass its dates on
    return {"timings": timings, "rows": rows}


def cached(settings: Settings, params: dict) -> dict:
    """Each query repeated in one open connection, after a first untimed run."""
    con, _ = connect_published(settings)
    timings: dict[str, list[float]] = {}
    with contextlib.closing(con):
        dates = order_date_range(con)
        assert dates is not None, "the benchmark's demo shop has orders"
        first, last = dates
        for name, query in DASHBOARD_QUERIES.items():
            query(con, first, last)
            timings[name] = []
            for _ in range(params.get("repeats", 20)):
                started = time.perf_counter()
                query(con, first, last)
                timings[name].append(time.perf_counter() - started)
    return {"timings": timings}


# What a program asks the data API: a filtered read of the largest mart, and a metric by day.
API_REQUESTS = {
    "mart_read": "/marts/fct_orders/rows?order_status=delivered&order_date__gte={since}"
    "&columns=order_id,order_date,amount_total&order=-amount_total&limit=100",
    "metric_query": "/metrics/revenue?grain=day&from={since}",
}


def api(settings: Settings, params: dict) -> dict:
    """Each request of API_REQUESTS over loopback HTTP on a fresh server of its own: the first request
    (cold: the server opens the published version), then the same request repeated (cached)."""
    key = new_key()
    keys = [ApiKey(name="bench", role="operator", key_hash=hash_key(key))]
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        [(since,)] = con.execute("SELECT strftime(max(order_date) - INTERVAL 30 DAY, '%Y-%m-%d') FROM marts.fct_orders").fetchall()
    timings: dict[str, dict[str, list[float]]] = {}
    rows: dict[str, int] = {}
    for name, path in API_REQUESTS.items():
        timings[name] = {"cold": [], "cached": []}
        with running(create_app(settings, keys)) as url:
            request = urllib.request.Request(url + path.format(since=since), headers={"X-API-Key": key})
            for mode, count in (("cold", 1), ("cached", params.get("repeats", 20))):
                for _ in range(count):
                    started = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=60) as response:
                        rows[name] = len(json.loads(response.read())["rows"])
                    timings[name][mode].append(time.perf_counter() - started)
    return {"timings": timings, "rows": rows}
