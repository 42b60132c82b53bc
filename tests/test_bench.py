"""`just bench` at a tiny scale, once: the harness runs every stage and the two sides compute the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.project import ROOT


@pytest.mark.slow
def test_bench_runs_every_stage_and_the_sides_agree(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")} | {"PLATFORM__DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scales", "0.01", "--rows", "2000", "--repeats", "1", "--warmup", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "data" / "bench" / "results"
    result = json.loads((results / "latest.json").read_text())
    scale = result["scales"]["0.01"]
    stages = scale["stages"]
    assert set(stages) == {"ingest", "files", "small_files", "transform", "publish", "serve", "end_to_end", "scheduler"}
    assert result["machine"]["cores"] >= 1 and result["machine"]["versions"]["duckdb"]

    # ingest: every side wrote every source row, and each figure comes from a real child process
    source_rows = sum(scale["source_rows"].values())
    assert scale["source_rows"]["orders"] == 1_000
    for side in ("platform", "duckdb", "pandas"):
        measured = stages["ingest"]["sides"][side]
        assert measured["extra"]["rows"] == source_rows, side
        assert measured["extra"]["files"] == 5 and measured["extra"]["rows_per_row_group"] > 0
        assert measured["peak_rss_mb"] > 20 and measured["cpu_seconds"] > 0 and measured["runs"] == 1

    # files: the generated drops (at least 1,000 rows, in two files) reach the platform's raw layer and DuckDB's Parquet whole
    files = stages["files"]
    assert files["rows"] == 1_200 and files["drop_files"] == 2
    for side in ("platform", "duckdb"):
        measured = files["sides"][side]
        assert measured["extra"]["rows"] == files["rows"] and measured["cpu_seconds"] > 0 and measured["peak_rss_mb"] > 20, side
    assert files["cpu_ratio_vs_duckdb"] > 0
    small = stages["small_files"]  # a tenth of the rows, in files of 100 rows
    assert small["rows"] == 120 and small["drop_files"] == 2
    assert small["sides"]["platform"]["extra"]["rows"] == small["sides"]["duckdb"]["extra"]["rows"] == 120

    # transform: SQLMesh and the rendered SQL run by hand build the same marts
    check = stages["transform"]["check"]
    assert check["sqlmesh_rows"] == check["duckdb_rows"]
    live_orders = check["sqlmesh_rows"]["marts.fct_orders"]
    assert 0 < live_orders <= 1_000
    # One model per file, but marts/period_revenue.sql is two: weekly_revenue and monthly_revenue (blueprints).
    assert stages["transform"]["sides"]["sqlmesh"]["extra"]["models_built"] == len(list((ROOT / "models").rglob("*.sql"))) + 1
    assert stages["transform"]["no_change_plan"]["extra"]["models_built"] == 0
    day = stages["transform"]["incremental_day"]["extra"]
    assert day["models_built"] > 0
    # the day restated from the oldest order it changed, and says which models took longest
    assert day["restated_from"] is not None
    assert set(day["slowest_models"]) and all(seconds > 0 for seconds in day["slowest_models"].values())
    assert stages["transform"]["incremental_day_ingest"]["extra"]["rows"] > 0
    # by hand, that day's SQL ran for exactly the models the platform evaluated, and wrote their rows
    by_hand = stages["transform"]["incremental_day_by_hand"]["extra"]["rows"]
    assert set(by_hand) == set(day["models_evaluated"]) and by_hand["marts.fct_orders"] > 0
    assert stages["transform"]["by_hand_share_of_full"] > 0

    # publish, serve and end to end agree with the built marts
    assert stages["publish"]["sides"]["platform"]["extra"]["rows"] == {k.split(".")[1]: v for k, v in check["sqlmesh_rows"].items()}
    served = stages["serve"]
    # the functions the business pages call, with their defaults: six KPIs, the top 20 customers, ...
    assert served["rows"]["order_date_range"] == 1 and served["rows"]["overview_kpis"] == 6
    assert served["rows"]["top_customers"] == 20 and served["rows"]["trends_by_day"] >= 1 and served["rows"]["product_ranking"] >= 1
    assert served["cold"]["samples"] >= 8 and served["cached"]["p95_ms"] > 0
    # through the data API, each request on fresh servers: one cold request per server, 20 cached after it
    api = served["api"]
    assert 1 <= api["mart_read"]["rows"] <= 100 and 1 <= api["metric_query"]["rows"] <= 31  # 100 rows a page; 31 days
    for request in ("mart_read", "metric_query"):
        assert api[request]["cold"]["samples"] == 3 and api[request]["cached"]["samples"] == 60
        assert api[request]["cached"]["p95_ms"] > 0
    e2e = stages["end_to_end"]["sides"]
    assert e2e["duckdb"]["extra"]["rows"]["fct_orders"] == live_orders
    assert all(e2e[side]["peak_rss_mb"] > 20 for side in ("cold", "warm", "after_day"))
    # `just run` with nothing new published no new version; the day after is a share of the cold run
    assert stages["end_to_end"]["warm_published_new"] is False
    assert 0 < stages["end_to_end"]["after_day_share_of_cold"]

    _check_scenario(result["scenario"], tmp_path / "data" / "bench")

    # the record: every target has a verdict, and the Markdown table shows the scale
    assert {row["target"] for row in result["targets"]} >= {
        "ingest <= 2.0x DuckDB",
        "files ingest CPU <= 1.5x DuckDB",
        "files ingest peak RSS <= 1 GB",
        "SQLMesh full build <= 1.5x DuckDB",
        "no-change plan <= 5 s",
        "dashboard p95 cold <= 1 s",
        "a demo day <= 12% of a full build (at 5M orders)",
        "publish <= 1.5x a plain COPY (at 1M orders)",
        "a run where nothing changed publishes nothing new",
        "1% change <= 15% of its full build (at 6M rows)",
        "full build <= 1.5x hand-written DuckDB",
        "`just run` peak RSS <= 1.5 GB (at 6M rows)",
        "published marts equal hand-written DuckDB's",
    }
    verdicts = {row["target"]: row["met"] for row in result["targets"] if row["scale"] == "files 2,000 rows"}
    assert verdicts["published marts equal hand-written DuckDB's"] is True
    table = (results / "latest.md").read_text()
    assert "## Scale 0.01: 1,000 orders" in table and "## Targets" in table
    assert f"restated from {day['restated_from'][:10]}" in table and "slowest: " in table
    assert "## Files scenario (files 2,000 rows): 2,000 trips and 500 vehicle shifts in 2 CSV drops" in table
    assert "Published marts against both DuckDB sides': equal" in table


def _check_scenario(scenario: dict, bench_dir: Path) -> None:
    """The files scenario: `just run` loaded every drop, then only the change, and its marts equal DuckDB's."""
    from bench.scenario_data import SHIFTS, SOURCE, TRIPS
    from bench.sides_scenario import compare
    from core.settings import load_settings

    assert (scenario["trips"], scenario["shifts"], scenario["drop_files"]) == (2_000, 500, 2)
    full, change = scenario["sides"]["full"], scenario["sides"]["change"]
    assert full["platform"]["extra"]["rows_loaded"] == {SOURCE: {TRIPS: 2_000, SHIFTS: 500}}
    changed = scenario["changed_keys"]
    # a change: 1% of the keys updated, a few deleted, 0.1% new (at least one), every changed row loaded once
    assert changed[TRIPS]["updated"] == 20 and changed[TRIPS]["deleted"] >= 3 and changed[TRIPS]["new"] == 2
    assert change["platform"]["extra"]["rows_loaded"] == {SOURCE: {table: sum(keys.values()) for table, keys in changed.items()}}
    assert set(full) == set(change) == {"platform", "duckdb", "layers"}
    for run in (full, change):
        assert set(run["platform"]["stages"]) == {"ingest", "transform", "publish"}
        assert all(node["cpu_seconds"] > 0 and node["peak_rss_mb"] > 20 for node in run["platform"]["stages"].values())
        assert run["platform"]["peak_rss_mb"] >= max(node["peak_rss_mb"] for node in run["platform"]["stages"].values())
        assert run["platform"]["extra"]["published_new"] and run["duckdb"]["cpu_seconds"] > 0 and run["layers"]["cpu_seconds"] > 0
        assert run["layers"]["extra"]["rows"] == run["duckdb"]["extra"]["rows"]
    assert scenario["answers_equal"] is True
    # both hand-written sides, after the full build and after the change
    assert set(scenario["checks"]) == {"full", "full_layers", "change", "change_layers"}
    for check in scenario["checks"].values():
        assert check["fleet_daily_trips"]["published_rows"] == 365 and all(mart["equal"] for mart in check.values())
    # the layered side kept each round's raw file, and merged the change into staging: every key once
    layers = bench_dir / "work" / "scenario-2000" / "duckdb-layers"
    assert sorted(path.name for path in (layers / "raw" / TRIPS).iterdir()) == ["change-001.parquet", "first.parquet"]
    with duckdb.connect() as con:
        published = layers / "published" / "trips.parquet"
        [(rows, keys)] = con.execute(f"SELECT count(*), count(DISTINCT trip_id) FROM read_parquet('{published}')").fetchall()
    assert rows == keys == 2_000 + changed[TRIPS]["new"]
    # the check sees a difference: one row less on DuckDB's side
    work = bench_dir / "work" / "scenario-2000"
    hand = work / "duckdb-change" / "marts" / "fleet_vehicles.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_parquet('{hand}') ORDER BY vehicle_id OFFSET 1) TO '{hand}.tmp' (FORMAT parquet)")
    hand.with_name(hand.name + ".tmp").replace(hand)
    settings = load_settings(work / "project", env={"PLATFORM__DATA_DIR": str(work / "platform")})
    vehicles = compare(settings, hand.parent)["fleet_vehicles"]
    assert vehicles["equal"] is False and vehicles["only_published"] == 1 and vehicles["only_duckdb"] == 0


def test_the_files_scenario_targets_are_judged_from_its_figures():
    from bench.report import targets

    def scenario(share: float, ratio: float, rss: float, equal: bool) -> dict:
        platform = _side(10.0, rss)
        return {
            "trips": 6_000_000,
            "change_share_of_full": share,
            "duckdb_change_share_of_full": 0.9,
            "layers_change_share_of_full": 0.3,
            "full_ratio_vs_duckdb": ratio,
            "full_ratio_vs_layers": ratio / 1.6,
            "layers_full_ratio_vs_duckdb": 1.6,
            "full_cpu_ratio_vs_duckdb": ratio,
            "sides": {"full": {"platform": platform}},
            "answers_equal": equal,
        }

    met = {row["target"]: row["met"] for row in targets({"scales": {}, "scenario": scenario(0.12, 1.4, 1500.0, True)})}
    assert met == {
        "1% change <= 15% of its full build (at 6M rows)": True,
        "full build <= 1.5x hand-written DuckDB": True,
        "`just run` peak RSS <= 1.5 GB (at 6M rows)": True,
        "published marts equal hand-written DuckDB's": True,
    }
    rows = targets({"scales": {}, "scenario": scenario(0.7, 2.4, 3100.0, False)})
    assert not any(row["met"] for row in rows) and {row["scale"] for row in rows} == {"files 6,000,000 rows"}


def test_each_stage_of_a_run_has_its_own_peak_rss():
    from bench.sides_scenario import StageMeter

    meter = StageMeter()
    meter.event("lake", "checking the lake")  # not a stage of its own
    meter.event("ingest", "loading")
    block = bytearray(300 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    del block
    meter.event("transform", "planning prod")
    meter.event("transform", "built a model")  # the same stage goes on
    meter.event("publish", "publishing")
    meter.close()
    stages = meter.stages
    assert list(stages) == ["ingest", "transform", "publish"]
    assert stages["ingest"]["peak_rss_mb"] - stages["transform"]["peak_rss_mb"] > 250
    assert meter.peak_rss_mb == stages["ingest"]["peak_rss_mb"]  # the process's, which the resets hide from the kernel's figure
    assert all(node["seconds"] >= 0 and node["cpu_seconds"] >= 0 for node in stages.values())


def _side(seconds: float, rss: float) -> dict:
    return {"seconds": seconds, "process_seconds": seconds + 1, "cpu_seconds": seconds, "peak_rss_mb": rss}


def test_targets_and_memory_scaling_are_judged_from_the_figures():
    from bench.report import memory_scaling, targets

    def scale(rows: int, rss: float) -> dict:
        ingest = {"sides": {"platform": _side(3.0, rss), "duckdb": _side(2.0, 100)}, "ratio_vs_duckdb": 1.5, "speedup_vs_pandas": 2.0}
        return {"source_rows": {"orders": rows}, "stages": {"ingest": ingest}}

    result = {"scales": {"10": scale(1_000_000, 400.0), "50": scale(5_000_000, 1600.0)}}
    verdicts = {(row["scale"], row["target"]): row["met"] for row in targets(result)}
    assert verdicts[("10", "ingest <= 2.0x DuckDB")] is True
    assert verdicts[("10", "ingest >= 3x faster than pandas")] is False
    assert verdicts[("10", "peak RSS < 1.5 GB (at 5M orders)")] is True
    assert verdicts[("50", "peak RSS < 1.5 GB (at 5M orders)")] is False
    (growth,) = memory_scaling(result)
    assert growth["stage"] == "ingest" and growth["rows_growth"] == 5.0
    assert abs(growth["exponent"] - 0.861) < 0.001  # 4x the memory for 5x the rows is not sub-linear enough
    assert verdicts[("10->50", "peak RSS sub-linear: ingest")] is False
