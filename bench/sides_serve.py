"""Serve sides: the dashboard's queries on the published marts, cold (fresh connection) and cached."""

from __future__ import annotations

import contextlib
import time
from typing import Any

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
