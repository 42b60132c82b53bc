"""The benchmark's stages at one scale. Each returns its medians, ratios and checks as a dict.

Generation of sources and the untimed set-up runs (a raw layer, a built
warehouse, a published version) are shared between stages of one scale.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.harness import Sample, Workspace, alternate, percentile, summarize
from bench.sides_ingest import parquet_stats
from core.settings import Settings
from demo.day import advance_day
from demo.shop import generate, open_existing, table_counts


@dataclass
class ScaleRun:
    """One scale's workspace and the set-up that its stages share."""

    settings: Settings
    ws: Workspace
    warmup: int
    repeats: int
    say: Callable[[str], None]
    models: list[dict] | None = None
    duckdb_settings: dict[str, str] | None = None  # the gateway's, for the hand-run sides

    def rounds(self, sides: dict[str, Callable[[], Sample | dict[str, Sample]]]) -> dict[str, list[Sample]]:
        return alternate(sides, warmup=self.warmup, repeats=self.repeats)

    @property
    def raw_dir(self) -> Path:
        return self.ws.dir / "ingest-platform"

    @property
    def built_dir(self) -> Path:
        return self.ws.dir / "transform-sqlmesh"

    def built_env(self) -> dict[str, str]:
        return self.ws.env(self.built_dir, lake_root=self.raw_dir / "lake")


def ensure_source(run: ScaleRun) -> dict[str, int]:
    """Generate the demo source of this scale once; later runs reuse it. Return its row counts."""
    path, demo = run.ws.source, run.settings.demo
    if not path.exists():
        run.say(f"generating the demo source at scale {run.ws.scale:g} (not measured)")
        generate(path, seed=demo.seed, scale=run.ws.scale, start_date=demo.start_date, history_days=demo.history_days)
    with contextlib.closing(open_existing(path)) as con:
        return {t: n for t, n in table_counts(con).items() if t in run.settings.sources[demo.source].tables}


def _ensure_raw(run: ScaleRun) -> None:
    if not (run.raw_dir / "lake" / "raw").exists():
        run.say("ingesting the raw layer (set-up, not measured)")
        run.ws.run_side("ingest.platform", run.ws.env(run.ws.fresh("ingest-platform")))


def _ensure_models(run: ScaleRun) -> list[dict]:
    if run.models is None:
        from bench.sides_transform import gateway_duckdb_settings, render_models

        settings = _render_settings(run)
        run.models = render_models(settings)
        run.duckdb_settings = gateway_duckdb_settings(settings)
    return run.models


def _render_settings(run: ScaleRun) -> Settings:
    """Settings on a scratch folder, for SQLMesh to render the models in the parent (no warehouse is written)."""
    from core.settings import load_settings

    folder = run.ws.dir / "render"
    folder.mkdir(parents=True, exist_ok=True)
    return load_settings(run.settings.project_dir, env=run.ws.env(folder))


def _ensure_built(run: ScaleRun) -> None:
    _ensure_raw(run)
    if not (run.built_dir / "warehouse.duckdb").exists():
        run.say("building the warehouse (set-up, not measured)")
        run.ws.fresh("transform-sqlmesh")
        run.ws.run_side("transform.sqlmesh", run.built_env())


def _marts(run: ScaleRun) -> list[str]:
    return [m["name"] for m in _ensure_models(run) if m["name"].startswith("marts.")]


def ingest(run: ScaleRun, source_rows: int) -> dict:
    ws, tables = run.ws, list(run.settings.sources[run.settings.demo.source].tables)

    def side(name: str) -> Callable[[], Sample]:
        def go() -> Sample:
            data = ws.fresh(f"ingest-{name}")
            sample = ws.run_side(f"ingest.{name}", ws.env(data))
            lake = data / "lake" / "raw" / run.settings.demo.source if name == "platform" else data / "out"
            sample.extra |= parquet_stats([lake / table for table in tables])
            return sample

        return go

    run.say("ingest: platform (dlt) vs DuckDB sqlite_scan vs pandas")
    sides = {name: summarize(s) for name, s in run.rounds({n: side(n) for n in ("platform", "duckdb", "pandas")}).items()}
    for summary in sides.values():
        summary["rows_per_second"] = round(source_rows / summary["seconds"])
    return {
        "sides": sides,
        "ratio_vs_duckdb": sides["platform"]["seconds"] / sides["duckdb"]["seconds"],
        "speedup_vs_pandas": sides["pandas"]["seconds"] / sides["platform"]["seconds"],
    }


def files(run: ScaleRun, *, small: bool = False) -> dict:
    """A table of drop_rows(scale) rows dropped as CSV files: the platform's files ingest vs DuckDB reading them to Parquet.
    `small`: a tenth of the rows, in files of 100 rows whose keys interleave (thousands of files at the larger scales)."""
    from bench import sides_files

    ws = run.ws
    landing, rows = sides_files.ensure_drops(ws.bench_dir, ws.scale, run.say, small=small)

    def side(name: str) -> Callable[[], Sample]:
        def go() -> Sample:
            data = ws.fresh(f"files-{'small-' if small else ''}{name}")
            sample = ws.run_side(f"files.{name}", ws.env(data) | sides_files.source_env(landing))
            out = data / "lake" / "raw" / sides_files.SOURCE if name == "platform" else data / "out"
            sample.extra |= parquet_stats([out / sides_files.TABLE])
            return sample

        return go

    drops = len(list(landing.glob("*.csv")))
    run.say(f"files: the platform's files ingest vs DuckDB read_csv -> Parquet, {rows:,} rows in {drops:,} files")
    samples = run.rounds({n: side(n) for n in ("platform", "duckdb")})
    sides = {name: summarize(s) for name, s in samples.items()}
    for name, summary in sides.items():
        summary["rows_per_second"] = round(rows / summary["seconds"])
        summary["work_cpu_seconds"] = statistics.median(sample.extra["work_cpu_seconds"] for sample in samples[name])
    return {
        "rows": rows,
        "drop_files": drops,
        "sides": sides,
        "cpu_ratio_vs_duckdb": sides["platform"]["work_cpu_seconds"] / sides["duckdb"]["work_cpu_seconds"],
        "process_cpu_ratio_vs_duckdb": sides["platform"]["cpu_seconds"] / sides["duckdb"]["cpu_seconds"],
    }


def transform(run: ScaleRun) -> dict:
    ws = run.ws
    _ensure_raw(run)
    models = _ensure_models(run)
    lake_root = run.raw_dir / "lake"

    def sqlmesh() -> Sample:
        return ws.run_side("transform.sqlmesh", ws.env(ws.fresh("transform-sqlmesh"), lake_root=lake_root))

    def plain() -> Sample:
        return ws.run_side(
            "transform.duckdb", ws.env(ws.fresh("transform-duckdb"), lake_root=lake_root), {"models": models, "duckdb": run.duckdb_settings}
        )

    run.say("transform: SQLMesh full build vs the rendered SQL as DuckDB CREATE TABLE AS")
    full = {name: summarize(s) for name, s in run.rounds({"sqlmesh": sqlmesh, "duckdb": plain}).items()}
    check = {
        "sqlmesh_rows": _mart_rows(run.built_dir / "warehouse.duckdb", models),
        "duckdb_rows": _mart_rows(ws.dir / "transform-duckdb" / "warehouse.duckdb", models),
    }

    run.say("transform: no-change plan")
    no_change = run.rounds({"sqlmesh": lambda: ws.run_side("transform.sqlmesh", run.built_env(), {})})
    daily = _daily(run)
    incremental, by_hand = summarize(daily["build"]), summarize(daily["by_hand"])
    return {
        "sides": full,
        "ratio_vs_duckdb": full["sqlmesh"]["seconds"] / full["duckdb"]["seconds"],
        "duckdb_settings": run.duckdb_settings,
        "check": check,
        "no_change_plan": summarize(no_change["sqlmesh"]),
        "incremental_day": incremental,
        "incremental_day_ingest": summarize(daily["ingest"]),
        "incremental_share_of_full": incremental["seconds"] / full["sqlmesh"]["seconds"],
        "incremental_day_by_hand": by_hand,
        "incremental_ratio_vs_duckdb": incremental["seconds"] / by_hand["seconds"],
        "by_hand_share_of_full": by_hand["seconds"] / full["duckdb"]["seconds"],
    }


def _daily(run: ScaleRun) -> dict[str, list[Sample]]:
    """After an untimed first load and build, each round advances the demo day, ingests, and builds; then
    the models that build evaluated run by hand over the range it restated, on the warehouse it wrote."""
    from bench.sides_transform import render_models

    ws = run.ws
    chain = ws.fresh("transform-daily")
    source = chain / "source.db"
    shutil.copyfile(ws.source, source)
    env = ws.env(chain, source=source)
    run.say("transform: one-day incremental runs after demo-day (first load and build not measured)")
    ws.run_side("ingest.platform", env)
    ws.run_side("transform.sqlmesh", env)

    def day() -> dict[str, Sample]:
        today = advance_day(source, seed=run.settings.demo.seed).day
        ingest, build = ws.run_side("ingest.platform", env), ws.run_side("transform.sqlmesh", env)
        start = build.extra["restated_from"] or today  # nothing restated: the history models' day
        models = render_models(_render_settings(run), start=start, only=set(build.extra["models_evaluated"]))
        by_hand = ws.run_side("transform.duckdb_day", env, {"models": models, "duckdb": run.duckdb_settings})
        return {"ingest": ingest, "build": build, "by_hand": by_hand}

    return run.rounds({"day": day})


def _mart_rows(path: Path, models: list[dict]) -> dict[str, int]:
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as con:
        return {
            m["name"]: con.execute(f"SELECT count(*) FROM {m['table']}").fetchall()[0][0] for m in models if m["name"].startswith("marts.")
        }


def publish(run: ScaleRun) -> dict:
    _ensure_built(run)
    marts, env = _marts(run), run.built_env()
    published = run.raw_dir / "lake" / "curated" / "marts"
    run.say("publish: the platform's atomic publish vs a plain COPY of the marts")
    # set-up: the lineage of the personal columns, computed once per change of the models and kept in the data folder
    run.ws.run_side("publish.platform", env, {"marts": marts})

    def every_mart_written() -> Sample:
        shutil.rmtree(published, ignore_errors=True)  # no earlier version whose files an unchanged mart would name
        return run.ws.run_side("publish.platform", env, {"marts": marts})

    sides = run.rounds({"platform": every_mart_written, "duckdb": lambda: run.ws.run_side("publish.duckdb", env, {"marts": marts})})
    run.say("publish: again, nothing changed (the new version names the files it has)")
    unchanged = run.rounds({"unchanged": lambda: run.ws.run_side("publish.platform", env, {"marts": marts})})["unchanged"]
    summaries = {name: summarize(s) for name, s in sides.items()}
    return {
        "sides": summaries,
        "ratio_vs_duckdb": summaries["platform"]["seconds"] / summaries["duckdb"]["seconds"],
        "unchanged": summarize(unchanged),
    }


def serve(run: ScaleRun) -> dict:
    _ensure_built(run)
    env = run.built_env()
    if not (run.raw_dir / "lake" / "curated" / "marts" / "_manifest.json").exists():
        run.ws.run_side("publish.platform", env, {"marts": _marts(run)})
    run.say("serve: dashboard queries, cold (fresh process and connection) and cached")
    cold_rounds = run.repeats * 3
    cold = alternate({"cold": lambda: run.ws.run_side("serve.cold", env)}, warmup=run.warmup, repeats=cold_rounds)["cold"]
    cached = run.rounds({"cached": lambda: run.ws.run_side("serve.cached", env, {"repeats": 20})})["cached"]
    result = {}
    for mode, samples in (("cold", cold), ("cached", cached)):
        per_query: dict[str, list[float]] = {}
        for sample in samples:
            for name, timings in sample.extra["timings"].items():
                per_query.setdefault(name, []).extend(timings)
        everything = [t for timings in per_query.values() for t in timings]
        result[mode] = {
            "p50_ms": percentile(everything, 50) * 1000,
            "p95_ms": percentile(everything, 95) * 1000,
            "samples": len(everything),
            "peak_rss_mb": summarize(samples)["peak_rss_mb"],
            "queries": {n: {"p50_ms": percentile(t, 50) * 1000, "p95_ms": percentile(t, 95) * 1000} for n, t in per_query.items()},
        }
    result["rows"] = cold[-1].extra["rows"]
    run.say("serve: a filtered mart read and a metric query through the data API, cold (fresh server) and cached")
    api = alternate({"api": lambda: run.ws.run_side("serve.api", env, {"repeats": 20})}, warmup=run.warmup, repeats=cold_rounds)["api"]
    result["api"] = {}
    for request, rows in api[-1].extra["rows"].items():
        result["api"][request] = {"rows": rows}
        for mode in ("cold", "cached"):
            timings = [t for sample in api for t in sample.extra["timings"][request][mode]]
            result["api"][request][mode] = {
                "p50_ms": percentile(timings, 50) * 1000,
                "p95_ms": percentile(timings, 95) * 1000,
                "samples": len(timings),
            }
    return result


def end_to_end(run: ScaleRun) -> dict:
    ws = run.ws
    models = _ensure_models(run)
    run.say("end to end: `just run` cold and warm vs the same job by hand in DuckDB")

    def platform() -> dict[str, Sample]:
        env = ws.env(ws.fresh("e2e-platform"))
        cold = ws.run_cli("e2e.cold", ["run"], env)
        published = _published_version(run, env)
        warm = ws.run_cli("e2e.warm", ["run"], env)
        warm.extra["published_new"] = _published_version(run, env) != published
        return {"cold": cold, "warm": warm}

    def by_hand() -> Sample:
        return ws.run_side("e2e.duckdb", ws.env(ws.fresh("e2e-duckdb")), {"models": models, "duckdb": run.duckdb_settings})

    samples = run.rounds({"platform": platform, "duckdb": by_hand})
    sides = {name: summarize(s) for name, s in samples.items()}
    # The last cold run's folder goes on living: its loads and state are valid for a copy of the same source.
    chain = ws.dir / "e2e-platform"
    source = chain / "source.db"
    shutil.copyfile(ws.source, source)
    env = ws.env(chain, source=source)
    run.say("end to end: `just run` after demo-day")

    def after_day() -> Sample:
        advance_day(source, seed=run.settings.demo.seed)
        return ws.run_cli("e2e.after_day", ["run"], env)

    sides |= {"after_day": summarize(run.rounds({"after_day": after_day})["after_day"])}
    return {
        "sides": sides,
        "cold_ratio_vs_duckdb": sides["cold"]["seconds"] / sides["duckdb"]["process_seconds"],
        "after_day_share_of_cold": sides["after_day"]["seconds"] / sides["cold"]["seconds"],
        "warm_published_new": any(sample.extra["published_new"] for sample in samples["warm"]),
    }


def _published_version(run: ScaleRun, env: dict[str, str]) -> str | None:
    """The version that the data folder of `env` publishes now (read in the parent; not timed)."""
    from core.settings import load_settings
    from publish.reader import current_version

    published = current_version(load_settings(run.settings.project_dir, env=env))
    return published.version if published else None
