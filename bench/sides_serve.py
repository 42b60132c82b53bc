"""Serve sides: the dashboard queries on the published marts, cold (fresh connection) and cached."""

from __future__ import annotations

import time

from bench.queries import DASHBOARD_QUERIES
from core.settings import Settings
from publish.reader import connect_published


def cold(settings: Settings, params: dict) -> dict:
    """Each query in a fresh connection (this process is fresh too): connect, query, fetch."""
    timings, rows = {}, {}
    for name, sql in DASHBOARD_QUERIES.items():
        started = time.perf_counter()
        con, _ = connect_published(settings)
        rows[name] = len(con.execute(sql).fetchall())
        timings[name] = [time.perf_counter() - started]
        con.close()
    return {"timings": timings, "rows": rows}


def cached(settings: Settings, params: dict) -> dict:
    """Each query repeated in one open connection, after a first untimed run."""
    con, _ = connect_published(settings)
    timings: dict[str, list[float]] = {}
    with con:
        for name, sql in DASHBOARD_QUERIES.items():
            con.execute(sql).fetchall()
            timings[name] = []
            for _ in range(params.get("repeats", 20)):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                timings[name].append(time.perf_counter() - started)
    return {"timings": timings}
