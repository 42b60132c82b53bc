"""What the reliability battery shares: seeded randomness, real child processes, SIGKILL at chosen
phases, a reader process that polls the published marts, and the invariants checked after recovery.

The seed is printed by every test that draws from it; rerun a failure with
RELIABILITY_SEED=<seed> to repeat the same kill points.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from core import warehouse
from core.run_context import open_run
from core.settings import Settings
from publish.staging import current_staging
from publish.versions import read_sql
from tests.support.project import ROOT, SMALL_SCALE, source_rows
from transform.raw_views import create_raw_views

SEED = int(os.environ.get("RELIABILITY_SEED", "20261127"))
TABLES = ("customers", "products", "orders", "order_items", "payments")
STAGING_KEY = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "order_item_id",
    "payments": "payment_id",
}


def rng(name: str) -> random.Random:
    """A random stream per test, derived from the battery's seed (printed, so a failure can be repeated)."""
    print(f"reliability seed {SEED} ({name}); rerun with RELIABILITY_SEED={SEED}")
    return random.Random(SEED * 1_000_003 + zlib.crc32(name.encode()))


def child_env(data_dir: Path, **env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "MAX_FORK_WORKERS": "1", **env})
    return environ


def spawn(module_args: list[str], data_dir: Path, log: Path, **env: str) -> subprocess.Popen:
    """`python -m <module_args>` in its own process group, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=ROOT,
            env=child_env(data_dir, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()


def spawn_job(settings: Settings, task: str, log: Path, **args) -> subprocess.Popen:
    """One job attempt as the scheduler runs it, in a fresh interpreter: `python -m scheduler.worker`, settings on stdin
    (the scheduler forks the same attempt from its warm server)."""
    from scheduler.runner import worker_payload

    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    result = log.with_suffix(".result.json")
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "scheduler.worker", str(result)],
            cwd=ROOT,
            env=child_env(settings.data_dir),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    finally:
        out.close()
    job = {"job_id": f"{task}:reliability", "task": task, "args": args, "writes": True}
    child.stdin.write(worker_payload(settings, job))
    child.stdin.close()
    return child


def sigkill(child: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (SQLMesh or DuckDB threads and any workers with it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=60)


def dlt_dir(settings: Settings, source: str = "shop") -> Path:
    return settings.data_dir / "dlt" / f"ingest_{source}"


def _entries(root: Path, pattern: str) -> set[tuple[str, int]]:
    found = set()
    for path in root.glob(pattern):
        with contextlib.suppress(OSError):
            found.add((str(path), path.stat().st_mtime_ns))
    return found


PHASE_MARKS = {  # what appears in dlt's working folder while a phase works
    "extract": "normalize/" + "?" * 16 + "/*",  # the package being extracted, in dlt's temporary storage
    "normalize": "load/new/*/new_jobs/*",
    "load": "load/normalized/*/*_jobs/*",
}


class PhaseWatch:
    """Which phase an ingest process has reached, judged only by what it changed since it started."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.root = settings, dlt_dir(settings)
        self.before = {phase: _entries(self.root, mark) for phase, mark in PHASE_MARKS.items()}

    def fresh(self, phase: str) -> bool:
        return bool(_entries(self.root, PHASE_MARKS[phase]) - self.before[phase])

    def phase_of(self, pid: int) -> str | None:
        """The phase a frozen process is in, from the packages it is working on now (None: between phases)."""
        for phase in ("load", "normalize"):
            if self.fresh(phase):
                return phase
        if self.fresh("extract"):
            return "extract"
        return None


@dataclass
class KillLog:
    """Kills that landed, per phase, and attempts that finished before the kill."""

    by_phase: dict[str, int] = field(default_factory=dict)
    missed: int = 0

    def add(self, phase: str | None) -> None:
        if phase is None:
            self.missed += 1
        else:
            self.by_phase[phase] = self.by_phase.get(phase, 0) + 1


def kill_ingest_in(settings: Settings, child: subprocess.Popen, target: str, random_: random.Random) -> str | None:
    """Wait until the child reaches `target`, freeze it (SIGSTOP), read the phase it is really in, SIGKILL it."""
    watch = PhaseWatch(settings)
    reached = lambda: watch.fresh(target)
    deadline = time.monotonic() + 300
    while child.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(random_.uniform(0, 1.0 if target == "extract" else 0.01))  # a random point inside the phase
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGSTOP)
    phase = watch.phase_of(child.pid) if child.poll() is None else None
    sigkill(child)
    return phase


# --- the reader: another process polling the published marts -----------------------------------


def start_reader(data_dir: Path, out: Path, interval: float, **env: str) -> subprocess.Popen:
    """`tests.reliability.reader`: one JSON line per read (version, totals or the error)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.reader", str(out), str(interval)],
        cwd=ROOT,
        env=child_env(data_dir, **env),
        stdout=subprocess.DEVNULL,
        stderr=open(out.with_suffix(".err"), "wb"),
    )


def stop_reader(reader: subprocess.Popen, out: Path) -> list[dict]:
    reader.send_signal(signal.SIGTERM)
    reader.wait(timeout=60)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def published_totals(settings: Settings) -> tuple[str, list]:
    """The current published version and its answer to the reader's question, read in this process."""
    from tests.reliability.reader import answer

    read = answer(settings)
    return read["version"], read["totals"]


def check_reads(reads: list[dict], versions: dict[str, list]) -> tuple[int, int]:
    """(errors, reads whose answer is not exactly that of a complete published version)."""
    errors = [r for r in reads if "error" in r]
    wrong = [r for r in reads if "error" not in r and versions.get(r["version"]) != r["totals"]]
    return len(errors), len(wrong)


# --- invariants after recovery ---------------------------------------------------------------------


def raw_versions(settings: Settings) -> dict[str, list[tuple]]:
    """Per table, every (key, updated_at) in the completed loads of the raw layer, duplicates kept."""
    with contextlib.closing(warehouse.connect()) as con:
        create_raw_views(con, open_run(settings))
        return {
            t: con.execute(f"SELECT id, strftime(updated_at::TIMESTAMP, '%Y-%m-%d %H:%M:%S') FROM raw_shop.{t}").fetchall() for t in TABLES
        }


@dataclass
class RawCheck:
    missing: int
    duplicates: int
    stale: int
    rows: int


def check_raw_matches_source(settings: Settings) -> RawCheck:
    """Every source row's current version is in raw; no version is there twice; raw's latest per key is the source's."""
    raw = raw_versions(settings)
    missing = duplicates = stale = rows = 0
    for table in TABLES:
        source = {(r[0], r[1]) for r in source_rows(settings, f"SELECT id, strftime('%Y-%m-%d %H:%M:%S', updated_at) FROM {table}")}
        loaded = raw[table]
        missing += len(source - set(loaded))
        duplicates += len(loaded) - len(set(loaded))
        latest: dict = {}
        for key, updated in loaded:
            latest[key] = max(latest.get(key, updated), updated)
        stale += sum(1 for key, updated in source if latest.get(key) != updated)
        rows += len(source)
    return RawCheck(missing=missing, duplicates=duplicates, stale=stale, rows=rows)


def staging_duplicate_keys(settings: Settings) -> dict[str, int]:
    """Keys present more than once in each published staging table (must be none)."""
    version = current_staging(open_run(settings), "shop")
    from core.lake import Lake

    dupes = {}
    with contextlib.closing(Lake(settings).attach(warehouse.connect())) as con:
        for table in TABLES:
            key = STAGING_KEY[table]
            total, distinct = con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM ({read_sql(version, table)})").fetchone()
            dupes[table] = total - distinct
            assert total == version.rows[table]
    return dupes


def warehouse_opens(settings: Settings) -> bool:
    """The warehouse file opens (read-only) and answers a query after a kill."""
    if not settings.warehouse_path.exists():
        return True
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        con.execute("SELECT count(*) FROM information_schema.tables").fetchone()
        return True
    finally:
        con.close()


def tally(name: str, **counts) -> None:
    """Record what a test survived (kills, faults, bad inputs, rows lost, duplicates) for the battery's summary."""
    line = json.dumps({"test": name, "seed": SEED, **counts})
    print("reliability tally:", line)
    path = ROOT / "data" / "test-artifacts" / "reliability-tally.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(line + "\n")
