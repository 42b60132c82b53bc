"""Scheduler sides: the files scenario's ingest as a stage of `just run` vs as the scheduler's job.

`run` calls the ingest stage in a process that imported what `just run` imports, under the writer
lock, as `just run` does. `job` runs the source's ingest job through a Runner whose warm server is
up (as on a scheduler that has been serving a while) and reports the job's wall seconds,
from its start to its recorded end, and the CPU seconds of the job's process, which the warm
server reaps (its children's CPU before and after).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench import sides_files
from bench.harness import Sample, summarize
from core.errors import PlatformError
from core.settings import Settings


def run_stage(settings: Settings, params: dict) -> dict:
    from core.lock import writer_lock
    from core.run_context import open_run
    from pipeline import stages

    started = time.process_time()
    with writer_lock(settings.data_dir, purpose="bench: ingest inside just run", wait_seconds=5):
        result = stages.ingest(open_run(settings), sides_files.SOURCE)
    return {"rows": result.total_rows, "work_cpu_seconds": time.process_time() - started}


def job(settings: Settings, params: dict) -> dict:
    from core import runlog
    from scheduler import warm
    from scheduler.jobs import job_specs
    from scheduler.runner import Runner

    runner = Runner(settings, job_specs(settings))
    if not warm.ready(timeout=600):
        raise PlatformError("the scheduler's warm server did not come up within 10 minutes")
    server = _server_pid()
    before = _reaped_cpu_seconds(server)
    started = time.perf_counter()
    status = runner.run(f"ingest:{sides_files.SOURCE}", "manual", retries=False, cascade=False, alert=False)
    seconds = time.perf_counter() - started
    last = runlog.last_runs(settings.meta_path, 1, job=f"ingest:{sides_files.SOURCE}")[0]
    if status != "success":
        raise PlatformError(f"the ingest job ended {status}: {last['error']}")
    return {"rows": last["rows_out"], "job_seconds": seconds, "work_cpu_seconds": _reaped_cpu_seconds(server) - before}


def _server_pid() -> int:
    """The warm server: the child of this process that runs multiprocessing's fork server."""
    children = {int(pid) for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()}
    for pid in children:
        if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise PlatformError("the scheduler's warm server is not running")


def _reaped_cpu_seconds(pid: int) -> float:
    """CPU seconds of the children `pid` has waited for (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def stage(run) -> dict:
    """The files scenario's drops, ingested by `just run`'s stage and by the scheduler's job, side by side."""
    ws = run.ws
    landing, rows = sides_files.ensure_drops(ws.bench_dir, ws.scale, run.say)

    def side(name: str) -> Callable[[], Sample]:
        def go() -> Sample:
            env = ws.env(ws.fresh(f"scheduler-{name}")) | sides_files.source_env(landing)
            sample = ws.run_side(f"scheduler.{name}", env)
            if name == "job":
                sample.seconds = sample.extra["job_seconds"]
            return sample

        return go

    run.say(f"scheduler: the ingest of {rows:,} dropped rows inside `just run` vs as the scheduler's job")
    samples = run.rounds({name: side(name) for name in ("run", "job")})
    sides = {name: summarize(found) for name, found in samples.items()}
    for name, summary in sides.items():
        summary["work_cpu_seconds"] = statistics.median(s.extra["work_cpu_seconds"] for s in samples[name])
    return {
        "rows": rows,
        "sides": sides,
        "job_ratio_vs_run": sides["job"]["seconds"] / sides["run"]["seconds"],
        "job_cpu_ratio_vs_run": sides["job"]["work_cpu_seconds"] / sides["run"]["work_cpu_seconds"],
    }


def scheduler_row(stage: dict) -> str:
    """The stage's line in the Markdown table of its scale."""
    run, job = stage["sides"]["run"], stage["sides"]["job"]
    return (
        f"| scheduler: ingest of {stage['rows']:,} dropped rows as the scheduler's job vs inside `just run` "
        f"| job {job['seconds']:.2f} s, CPU {job['work_cpu_seconds']:.1f} s | `just run`'s stage {run['seconds']:.2f} s, "
        f"CPU {run['work_cpu_seconds']:.1f} s | {stage['job_ratio_vs_run']:.2f}x | | {run['peak_rss_mb']:.0f} MB "
        f"| the job forked from the scheduler's warm server; CPU {stage['job_cpu_ratio_vs_run']:.2f}x |"
    )
