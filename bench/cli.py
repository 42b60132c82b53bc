"""`python -m bench`: run the benchmark stages at each scale and write the JSON and Markdown results."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench.scenario_data import SCENARIO_ROWS
from core.errors import PlatformError
from core.settings import Settings, load_settings

STAGES = ("ingest", "files", "transform", "publish", "serve", "e2e", "scheduler", "scenario")


def run_bench(
    settings: Settings,
    *,
    scales: list[float],
    stages: list[str],
    repeats: int,
    warmup: int,
    out_dir: Path,
    profile: bool = False,
    rows: int = SCENARIO_ROWS,
    staging: str | None = None,
) -> dict:
    """Every selected demo stage at every scale, then the files scenario (`rows` trips; its staging models
    `staging`, by default as `stage_scenario.default_staging` finds); returns the result that `bench.markdown.write` records."""
    from bench import report
    from bench import stages as bench_stages
    from bench.harness import Workspace

    # Users' Pythons cache bytecode; a PYTHONDONTWRITEBYTECODE=1 shell would make every child compile its imports.
    dropped = ("PLATFORM__DATA_DIR", "PLATFORM__DEMO__SCALE", "PYTHONDONTWRITEBYTECODE")
    base_env = {k: v for k, v in os.environ.items() if k not in dropped}
    result: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": report.machine(),
        "load_before": report.load_average(),
        "options": {"scales": scales, "stages": stages, "repeats": repeats, "warmup": warmup, "rows": rows},
        "scales": {},
    }
    for scale in scales if set(stages) - {"scenario"} else []:
        started = time.perf_counter()
        ws = Workspace(out_dir, settings.project_dir, scale, settings.demo.source, base_env, profile=profile)
        say = functools.partial(_progress, scale, started)
        run = bench_stages.ScaleRun(settings=settings, ws=ws, warmup=warmup, repeats=repeats, say=say)
        # The demo source is every stage's but the files and scheduler stages', which generate their own drops.
        source_rows = bench_stages.ensure_source(run) if set(stages) - {"files", "scheduler"} else {}
        entry: dict[str, Any] = {"source_rows": source_rows, "stages": {}}
        result["scales"][f"{scale:g}"] = entry
        if "ingest" in stages:
            entry["stages"]["ingest"] = bench_stages.ingest(run, sum(source_rows.values()))
        if "files" in stages:
            entry["stages"]["files"] = bench_stages.files(run)
            entry["stages"]["small_files"] = bench_stages.files(run, small=True)
        if "transform" in stages:
            entry["stages"]["transform"] = bench_stages.transform(run)
        if "publish" in stages:
            entry["stages"]["publish"] = bench_stages.publish(run)
        if "serve" in stages:
            entry["stages"]["serve"] = bench_stages.serve(run)
        if "e2e" in stages:
            entry["stages"]["end_to_end"] = bench_stages.end_to_end(run)
        if "scheduler" in stages:
            from bench import sides_scheduler

            entry["stages"]["scheduler"] = sides_scheduler.stage(run)
        entry["seconds"] = time.perf_counter() - started
    if "scenario" in stages:
        from bench import stage_scenario

        started = time.perf_counter()
        result["scenario"] = stage_scenario.run(
            out_dir,
            base_env,
            trips=rows,
            staging=staging or stage_scenario.default_staging(),
            warmup=warmup,
            repeats=repeats,
            profile=profile,
            say=functools.partial(_progress, "scenario", started),
        )
        result["scenario"]["seconds"] = time.perf_counter() - started
    result["load_after"] = report.load_average()
    result["targets"] = report.targets(result)
    return result


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="bench", description="Benchmark every stage against hand-written DuckDB.")
    root.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    root.add_argument("--scales", default="10,50", help="demo scales, comma-separated (1 = 100,000 orders); default 10,50")
    root.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    root.add_argument("--repeats", type=int, default=3, help="measured runs per side (the median is reported)")
    root.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    root.add_argument("--out", type=Path, help="results folder (default <data_dir>/bench)")
    root.add_argument(
        "--rows",
        type=int,
        default=SCENARIO_ROWS,
        help=f"trips of the files scenario (a quarter as many vehicle shifts); default {SCENARIO_ROWS:,}",
    )
    root.add_argument(
        "--staging",
        choices=("full", "incremental"),
        help="the files scenario's staging models: FULL (every run reads every load) or incremental by key; "
        "default incremental when the project has macros/unmerged_keys.py",
    )
    root.add_argument("--profile", action="store_true", help="write a pyinstrument profile of every side next to its log")
    root.add_argument("--docs", action="store_true", help="also rewrite docs/benchmarks.md, the committed benchmark page, from this run")
    return root


def _progress(scale: float | str, started: float, message: str) -> None:
    label = scale if isinstance(scale, str) else f"{scale:g}"
    print(f"[bench {label} {time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(args.project)
        scales = [float(s) for s in args.scales.split(",")]
        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        if unknown := sorted(set(stages) - set(STAGES)):
            raise PlatformError(f"unknown stage(s) {', '.join(unknown)} in --stages; choose from {', '.join(STAGES)}")
        if args.staging == "incremental" and "scenario" in stages:
            from bench.scenario_project import INCREMENTAL_MACRO, has_incremental_macro

            if not has_incremental_macro():
                raise PlatformError(
                    f"--staging incremental needs the convention's macro, {INCREMENTAL_MACRO}, which this checkout does not have"
                )
        if args.repeats < 1 or args.warmup < 0 or min(scales) <= 0 or args.rows < 1_000:
            raise PlatformError("--repeats must be at least 1, --warmup at least 0, every scale above 0 and --rows at least 1,000")
        out_dir = (args.out or settings.data_dir / "bench").resolve()
        result = run_bench(
            settings,
            scales=scales,
            stages=stages,
            repeats=args.repeats,
            warmup=args.warmup,
            out_dir=out_dir,
            profile=args.profile,
            rows=args.rows,
            staging=args.staging,
        )
        from bench.markdown import write

        json_path, md_path = write(result, out_dir / "results")
        if args.docs:
            from bench.docs_page import write as write_page

            typed = sys.argv[1:] if argv is None else argv
            print(f"Wrote {write_page(result, shlex.join(['just', 'bench', *typed]))}", file=sys.stderr)
    except ValueError as exc:
        print(f"error: bad --scales: {exc}", file=sys.stderr)
        return 2
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(md_path.read_text())
    print(f"Wrote {json_path} and {md_path}", file=sys.stderr)
    if (scenario := result.get("scenario")) and not scenario["answers_equal"]:
        print(
            f"error: the published marts of the files scenario differ from hand-written DuckDB's: see `checks` in {json_path}",
            file=sys.stderr,
        )
        return 1
    return 0
