"""The benchmark's record: machine and versions, targets met or missed, memory scaling."""

from __future__ import annotations

import functools
import importlib.metadata
import math
import os
import platform
import sqlite3
import subprocess
from pathlib import Path

from bench.harness import ROOT

PACKAGES = ("duckdb", "dlt", "sqlmesh", "pyarrow", "pandas", "sqlalchemy")
ORDERS_PER_SCALE = 100_000
# Sides whose peak RSS is the platform's own, per stage, for the memory targets.
PLATFORM_MEMORY = {
    "ingest": ("ingest", "sides", "platform"),
    "files ingest": ("files", "sides", "platform"),
    "transform": ("transform", "sides", "sqlmesh"),
    "publish": ("publish", "sides", "platform"),
    "serve (cached)": ("serve", "cached"),
    "end to end (cold)": ("end_to_end", "sides", "cold"),
}
MB_LIMIT = 1536


def machine() -> dict:
    """Cores, memory, CPU, OS, load and the versions in use."""
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: importlib.metadata.version(name) for name in PACKAGES} | {"sqlite": sqlite3.sqlite_version},
        "commit": commit or "unknown",
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _get(scale: dict, *path: str):
    node = scale["stages"]
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def targets(result: dict) -> list[dict]:
    """Each performance target at each scale: the measured figure and whether it is met."""
    rows = []

    def add(scale: str, target: str, value, met: bool | None, shown: str) -> None:
        if value is not None:
            rows.append({"scale": scale, "target": target, "value": value, "met": met, "shown": shown})

    for key, scale in result["scales"].items():
        s = functools.partial(_get, scale)
        add(key, "ingest <= 2.0x DuckDB", r := s("ingest", "ratio_vs_duckdb"), r is not None and r <= 2.0, f"{r or 0:.2f}x")
        add(key, "ingest >= 3x faster than pandas", r := s("ingest", "speedup_vs_pandas"), r is not None and r >= 3.0, f"{r or 0:.2f}x")
        add(key, "files ingest CPU <= 1.5x DuckDB", r := s("files", "cpu_ratio_vs_duckdb"), r is not None and r <= 1.5, f"{r or 0:.2f}x")
        r = s("scheduler", "job_ratio_vs_run")
        add(key, "ingest as the scheduler's job <= 1.2x inside just run", r, r is not None and r <= 1.2, f"{r or 0:.2f}x")
        rss = s("files", "sides", "platform", "peak_rss_mb")
        add(key, "files ingest peak RSS <= 1 GB", rss, rss is not None and rss <= 1024, f"{rss or 0:.0f} MB")
        add(key, "SQLMesh full build <= 1.5x DuckDB", r := s("transform", "ratio_vs_duckdb"), r is not None and r <= 1.5, f"{r or 0:.2f}x")
        hand = s("transform", "by_hand_share_of_full")
        add(
            key,
            "a demo day <= 12% of a full build (at 5M orders)",
            r := s("transform", "incremental_share_of_full"),
            r is not None and r <= 0.12,
            f"{(r or 0) * 100:.0f}%" + (f" (the same SQL by hand: {hand * 100:.0f}% of its full build)" if hand is not None else ""),
        )
        add(
            key,
            "publish <= 1.5x a plain COPY (at 1M orders)",
            r := s("publish", "ratio_vs_duckdb"),
            r is not None and r <= 1.5,
            f"{r or 0:.2f}x",
        )
        new = s("end_to_end", "warm_published_new")
        add(key, "a run where nothing changed publishes nothing new", new, new is False, "a new version" if new else "nothing new")
        add(key, "no-change plan <= 5 s", r := s("transform", "no_change_plan", "seconds"), r is not None and r <= 5.0, f"{r or 0:.1f} s")
        add(key, "dashboard p95 cached <= 200 ms", r := s("serve", "cached", "p95_ms"), r is not None and r <= 200, f"{r or 0:.0f} ms")
        add(key, "dashboard p95 cold <= 1 s", r := s("serve", "cold", "p95_ms"), r is not None and r <= 1000, f"{r or 0:.0f} ms")
        peaks = {stage: node["peak_rss_mb"] for stage, path in PLATFORM_MEMORY.items() if (node := s(*path))}
        if peaks:
            worst = max(peaks, key=lambda stage: peaks[stage])
            add(key, "peak RSS < 1.5 GB (at 5M orders)", peaks[worst], peaks[worst] < MB_LIMIT, f"{peaks[worst]:.0f} MB ({worst})")
    if scenario := result.get("scenario"):
        scenario_targets(scenario, add)
    for row in memory_scaling(result):
        add(
            row["scales"],
            f"peak RSS sub-linear: {row['stage']}",
            row["exponent"],
            row["exponent"] <= 0.5,
            f"RSS ~ rows^{row['exponent']:.2f}",
        )
    return rows


def scenario_label(scenario: dict) -> str:
    return f"files {scenario['trips']:,} rows"


def scenario_targets(scenario: dict, add) -> None:
    """The files scenario's targets, judged at any size; they are set for 6M rows."""
    key = scenario_label(scenario)
    share, hand_share = scenario["change_share_of_full"], scenario["duckdb_change_share_of_full"]
    add(
        key,
        "1% change <= 15% of its full build (at 6M rows)",
        share,
        share <= 0.15,
        f"{share * 100:.0f}% (DuckDB recomputing everything: {hand_share * 100:.0f}% of its full build; "
        f"with the same layers, merging: {scenario['layers_change_share_of_full'] * 100:.0f}%)",
    )
    ratio = scenario["full_ratio_vs_duckdb"]
    add(
        key,
        "full build <= 1.5x hand-written DuckDB",
        ratio,
        ratio <= 1.5,
        f"{ratio:.2f}x (CPU {scenario['full_cpu_ratio_vs_duckdb']:.2f}x); DuckDB by hand with the same layers: "
        f"{scenario['layers_full_ratio_vs_duckdb']:.2f}x, the platform {scenario['full_ratio_vs_layers']:.2f}x that",
    )
    rss = scenario["sides"]["full"]["platform"]["peak_rss_mb"]
    add(key, "`just run` peak RSS <= 1.5 GB (at 6M rows)", rss, rss <= MB_LIMIT, f"{rss:.0f} MB")
    equal = scenario["answers_equal"]
    add(key, "published marts equal hand-written DuckDB's", equal, equal, "equal" if equal else "DIFFERENT (see checks in the JSON)")


def memory_scaling(result: dict) -> list[dict]:
    """Peak RSS growth between the smallest and largest scale, as the exponent k in RSS ~ rows^k."""
    scales = sorted(result["scales"].items(), key=lambda item: float(item[0]))
    if len(scales) < 2:
        return []
    (small_key, small), (large_key, large) = scales[0], scales[-1]
    if not sum(small["source_rows"].values()):
        return []  # the files stage alone: no demo source was generated
    growth = sum(large["source_rows"].values()) / sum(small["source_rows"].values())
    rows = []
    for stage, path in PLATFORM_MEMORY.items():
        a, b = _get(small, *path), _get(large, *path)
        if a and b:
            exponent = math.log(b["peak_rss_mb"] / a["peak_rss_mb"]) / math.log(growth)
            rows.append(
                {
                    "stage": stage,
                    "scales": f"{small_key}->{large_key}",
                    "small_mb": a["peak_rss_mb"],
                    "large_mb": b["peak_rss_mb"],
                    "rows_growth": growth,
                    "exponent": exponent,
                }
            )
    return rows
