"""The files scenario (`--stages scenario`): a generated project with a files source of `--rows` trips (one key
column) and a quarter as many vehicle shifts (a three-column key), as `just run` builds it and as
hand-written DuckDB computes the same marts, in one pass and keeping the platform's layers.

1. Full build: `just run` on a fresh data folder with the first drops, against DuckDB reading the files
   (one pass), and DuckDB keeping raw, staging and the published Parquet (`duckdb_layers`).
2. A 1% change (`bench.scenario_data.change`), landed as new files, and the run after it, against
   DuckDB recomputing the marts from all the files (the full recompute: no state to be incremental on),
   and DuckDB with the layers merging the change into its staging tables.
After the full build and after the change, the published marts are compared with both sides', row for row.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

from bench import scenario_data, scenario_project
from bench.harness import Sample, Workspace, alternate, summarize
from bench.sides_scenario import METERED, compare
from core.settings import Settings, load_settings

STAGING_KINDS = ("full", "incremental")


def run(
    bench_dir: Path,
    base_env: dict[str, str],
    *,
    trips: int,
    staging: str,
    warmup: int,
    repeats: int,
    profile: bool,
    say: Callable[[str], None],
) -> dict:
    landing = _ensure_drops(bench_dir, trips, say)
    work = bench_dir / "work" / f"scenario-{trips}"
    project = scenario_project.write(work / "project", staging=staging)
    ws = Workspace(bench_dir, project, 0, scenario_data.SOURCE, base_env, profile=profile, folder=work)
    env = lambda data: {**base_env, "PLATFORM__DATA_DIR": str(data)}
    duckdb_settings = _gateway_settings(project, env(work / "render"))

    def platform_full() -> Sample:
        data = ws.fresh("platform")
        _link(sorted(landing.glob("*.csv")), data / "landing" / scenario_data.SOURCE)
        return _platform(ws, env(data))

    def duckdb(data: Path, drops: Path) -> Sample:
        return ws.run_side("scenario.duckdb", env(data), {"landing": str(drops), "duckdb": duckdb_settings})

    def layers(data: Path, drops: Path, files: list[str], round_name: str) -> Sample:
        params = {"landing": str(drops), "files": files, "round": round_name, "duckdb": duckdb_settings}
        return ws.run_side("scenario.layers", env(data), params)

    first_drops = sorted(path.name for path in landing.glob("*.csv"))

    shifts = scenario_data.shift_rows(trips)
    say(f"scenario: `just run` on {trips:,} trips and {shifts:,} vehicle shifts as CSV drops vs DuckDB by hand (one pass; same layers)")
    full = alternate(
        {
            "platform": platform_full,
            "duckdb": lambda: duckdb(ws.fresh("duckdb"), landing),
            "layers": lambda: layers(ws.fresh("duckdb-layers"), landing, first_drops, "first"),
        },
        warmup=warmup,
        repeats=repeats,
    )
    chain = ws.dir / "platform"  # the last full build's folders go on with the changes
    chain_landing = chain / "landing" / scenario_data.SOURCE
    settings = _settings(project, env(chain))
    checks = {"full": compare(settings, ws.dir / "duckdb" / "marts"), "full_layers": compare(settings, ws.dir / "duckdb-layers" / "marts")}

    landed: list[dict] = []  # each change round's keys updated, deleted and added

    def change() -> dict[str, Sample]:
        round_no = len(landed) + 1
        landed.append(scenario_data.change(chain_landing, trips, round_no))
        platform = _platform(ws, env(chain))
        by_hand = duckdb(ws.fresh("duckdb-change"), chain_landing)
        files = sorted(path.name for path in chain_landing.glob(f"*-change-{round_no:03d}.csv"))
        with_layers = layers(ws.dir / "duckdb-layers", chain_landing, files, f"change-{round_no:03d}")
        checks["change"] = compare(settings, ws.dir / "duckdb-change" / "marts")
        checks["change_layers"] = compare(settings, ws.dir / "duckdb-layers" / "marts")
        return {"platform": platform, "duckdb": by_hand, "layers": with_layers}

    say("scenario: a 1% change landed as new files, then `just run` vs DuckDB recomputing from every file, and merging into its layers")
    changed = alternate({"change": change}, warmup=warmup, repeats=repeats)

    sides = {"full": _summaries(full), "change": _summaries(changed)}
    platform, hand, layered = sides["full"]["platform"], sides["full"]["duckdb"], sides["full"]["layers"]
    return {
        "trips": trips,
        "shifts": shifts,
        "drop_files": len(list(landing.glob("*.csv"))),
        "staging": staging,
        "changed_keys": landed[-1],
        "sides": sides,
        "full_ratio_vs_duckdb": platform["process_seconds"] / hand["process_seconds"],
        "full_cpu_ratio_vs_duckdb": platform["cpu_seconds"] / hand["cpu_seconds"],
        "change_share_of_full": sides["change"]["platform"]["process_seconds"] / platform["process_seconds"],
        "change_ratio_vs_duckdb": sides["change"]["platform"]["process_seconds"] / sides["change"]["duckdb"]["process_seconds"],
        "duckdb_change_share_of_full": sides["change"]["duckdb"]["process_seconds"] / hand["process_seconds"],
        "full_ratio_vs_layers": platform["process_seconds"] / layered["process_seconds"],
        "change_ratio_vs_layers": sides["change"]["platform"]["process_seconds"] / sides["change"]["layers"]["process_seconds"],
        "layers_full_ratio_vs_duckdb": layered["process_seconds"] / hand["process_seconds"],
        "layers_change_share_of_full": sides["change"]["layers"]["process_seconds"] / layered["process_seconds"],
        "checks": checks,
        "answers_equal": all(mart["equal"] for check in checks.values() for mart in check.values()),
    }


def default_staging() -> str:
    """Incremental by key when the project has the convention's macro (`macros/unmerged_keys.py`), else FULL."""
    return "incremental" if scenario_project.has_incremental_macro() else "full"


def _platform(ws: Workspace, env: dict[str, str]) -> Sample:
    """`just run` in a fresh process. Its peak RSS is the highest of its stages' (each measured on its own,
    which resets the peak that the kernel reports at the process's exit) and of the kernel's."""
    sample = ws.run_side("scenario.platform", env)
    sample.peak_rss_mb = max(sample.peak_rss_mb, sample.extra["peak_rss_mb"] or 0.0)
    return sample


def _summaries(samples: dict[str, list[Sample]]) -> dict[str, dict]:
    out = {name: summarize(s) for name, s in samples.items()}
    if "platform" in samples:
        out["platform"]["stages"] = _stages(samples["platform"])
    return out


def _stages(samples: list[Sample]) -> dict[str, dict[str, float | None]]:
    """Each stage's medians over the samples."""
    out = {}
    for stage in METERED:
        nodes = [s.extra["stages"][stage] for s in samples if stage in s.extra["stages"]]
        if nodes:
            out[stage] = {
                key: statistics.median(n[key] for n in nodes) if all(n[key] is not None for n in nodes) else None
                for key in ("seconds", "cpu_seconds", "peak_rss_mb")
            }
    return out


def _ensure_drops(bench_dir: Path, trips: int, say: Callable[[str], None]) -> Path:
    """The first drops at this size, generated once and kept in `<bench>/sources/` (not measured)."""
    landing = bench_dir / "sources" / f"{scenario_data.SOURCE}-{trips}"
    if not landing.exists():
        say(f"generating {trips:,} trips and {scenario_data.shift_rows(trips):,} vehicle shifts as CSV drops (not measured)")
        scratch = landing.with_name(landing.name + ".tmp")
        scenario_data.generate(scratch, trips)
        scratch.rename(landing)
    return landing


def _link(files: list[Path], folder: Path) -> None:
    """Drop `files` in `folder` as hard links (the platform reads them and never changes them), or copies
    where the file system has no hard links."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            (folder / path.name).hardlink_to(path)
        except OSError:
            shutil.copyfile(path, folder / path.name)


def _settings(project: Path, env: dict[str, str]) -> Settings:
    return load_settings(project, env=env)


def _gateway_settings(project: Path, env: dict[str, str]) -> dict[str, str]:
    from bench.sides_transform import gateway_duckdb_settings

    Path(env["PLATFORM__DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    return gateway_duckdb_settings(_settings(project, env))
