"""A benchmark side in its own process: `python -m bench.worker SIDE PARAMS.json RESULT.json PROJECT_DIR`.

The side's module is imported and the settings loaded before the clock starts,
so `seconds` is the work alone; the parent measures the whole process too.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from core.settings import load_settings

# side: (its function, the modules it needs imported before the clock starts)
SIDES = {
    "ingest.platform": ("bench.sides_ingest:platform", ("ingest.pipeline",)),
    "ingest.duckdb": ("bench.sides_ingest:duckdb_copy", ()),
    "ingest.pandas": ("bench.sides_ingest:pandas_naive", ("pandas",)),
    "files.platform": ("bench.sides_files:platform", ("ingest.pipeline",)),
    "files.duckdb": ("bench.sides_files:duckdb_copy", ()),
    "transform.sqlmesh": ("bench.sides_transform:sqlmesh_build", ("transform.build",)),
    "transform.duckdb": ("bench.sides_transform:duckdb_build", ()),
    "transform.duckdb_day": ("bench.sides_transform:duckdb_day", ()),
    "publish.platform": ("bench.sides_publish:platform", ("publish.marts", "transform.lineage")),
    "publish.duckdb": ("bench.sides_publish:duckdb_copy", ()),
    "serve.cold": ("bench.sides_serve:cold", ()),
    "serve.cached": ("bench.sides_serve:cached", ()),
    "serve.api": ("bench.sides_serve:api", ()),
    "e2e.duckdb": ("bench.sides_publish:duckdb_pipeline", ()),
    "scenario.platform": ("bench.sides_scenario:platform", ("pipeline.run",)),
    "scenario.duckdb": ("bench.sides_scenario:duckdb_marts", ()),
    "scenario.layers": ("bench.sides_scenario:duckdb_layers", ()),
    "scheduler.run": ("bench.sides_scheduler:run_stage", ("pipeline.run",)),
    "scheduler.job": ("bench.sides_scheduler:job", ("scheduler.runner",)),
}


def main(argv: list[str]) -> int:
    side, params_path, result_path, project = argv
    target, preload = SIDES[side]
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    for module in preload:
        importlib.import_module(module)
    params = json.loads(Path(params_path).read_text())
    settings = load_settings(Path(project))
    profile = params.pop("profile", None)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    started = time.perf_counter()
    extra = function(settings, params) or {}
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    Path(result_path).write_text(json.dumps({"seconds": seconds, "extra": extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
