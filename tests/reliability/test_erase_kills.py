"""`just erase` killed (SIGKILL, whole process group) at each of its steps, then run again: the rerun
finishes every layer, meta.db and the logs included, and the marts still reconcile.

Each kill point erases another customer, so one build serves them all. CI kills at a seeded sample of
ERASE_KILL_POINTS steps (2 by default, about 15 s each on an idle machine); set ERASE_KILL_POINTS=all (or a number) to
kill at more of them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from core.erasures import erasures, values_path
from core.settings import Settings
from pipeline.run import run_all
from tests.reliability import harness
from tests.support.erasure_search import find_values
from tests.support.project import ROOT, run_cli, source_rows
from tests.support.reconcile import assert_marts_match_source

# The report line each step prints when it is done: a kill on seeing it lands in the step after.
STEPS = (
    "saved the",
    "raw:",
    "quarantine:",
    "dlt working folder:",
    "models carrying",
    "warehouse:",
    "published staging and marts:",
    "published version",
    "metadata store:",
)
CHOSEN = os.environ.get("ERASE_KILL_POINTS", "2")


def _points() -> list[str]:
    if CHOSEN == "all":
        return list(STEPS)
    return sorted(harness.rng("erase kill points").sample(STEPS, min(int(CHOSEN), len(STEPS))), key=STEPS.index)


def _canaries(customer: int) -> tuple[str, str]:
    return f"Kilroy Erasewood{customer}", f"kilroy.{customer}@erase-kill.example"


def _seed(settings: Settings, customers: list[int]) -> None:
    """The customers get canary values in the source (the next run loads them), a run-history error and an API log line."""
    with sqlite3.connect(settings.source_path(settings.demo.source)) as con:
        for customer in customers:
            name, email = _canaries(customer)
            con.execute(
                "UPDATE customers SET name = ?, email = ?, updated_at = (SELECT datetime(max(updated_at), '+1 second') FROM customers) "
                "WHERE id = ?",
                (name, email, customer),
            )
    run_all(settings)
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con, con:
        errors = " ".join(f"bad row {_canaries(customer)}" for customer in customers)
        con.execute("UPDATE job_runs SET error = ? WHERE run_id = (SELECT max(run_id) FROM job_runs)", (errors,))
    log = settings.data_dir / "logs" / "api.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        for customer in customers:
            name, email = _canaries(customer)
            handle.write(f"GET /v1/marts/dim_customers?customer_email={quote(email, safe='')}&customer_name={quote_plus(name)} 200\n")


def _kill_at(settings: Settings, customer: int, step: str, log: Path) -> bool:
    """Start `erase`, SIGKILL its process group when it reports `step`; False when it finished first."""
    environ = harness.child_env(settings.data_dir, PYTHONUNBUFFERED="1", COLUMNS="200")
    child = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "erase", "shop.customers", str(customer)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stderr is not None
    seen, deadline = b"", time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stderr], [], [], 1.0)
        chunk = os.read(child.stderr.fileno(), 65536) if ready else b""
        seen += chunk
        if any(line.strip().startswith(step.encode()) for line in seen.splitlines()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            break
        if ready and not chunk:
            break
    child.wait(timeout=60)
    log.write_bytes(seen)
    return child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_an_erase_killed_at_any_step_is_finished_by_running_it_again(built_copy, tmp_path):
    settings = built_copy
    points = _points()
    print(f"erase kill points: {points} (ERASE_KILL_POINTS={CHOSEN})")
    customers = [row[0] for row in source_rows(settings, "SELECT id FROM customers WHERE deleted_at IS NULL ORDER BY id")]
    customers = customers[3 : 3 + len(points)]
    _seed(settings, customers)
    source_db = settings.source_path(settings.demo.source).parent
    seeded = find_values(settings.data_dir, [*_canaries(customers[0]), quote(_canaries(customers[0])[1], safe="")], skip=(source_db,))
    for where in ("lake/raw/shop/customers/", "warehouse.duckdb", "meta.db", "api.out"):
        assert any(where in hit for hit in seeded), (where, seeded)
    killed = 0
    for customer, step in zip(customers, points, strict=True):
        name, email = _canaries(customer)
        wanted = [name, email, quote(email, safe=""), quote_plus(name)]
        killed += _kill_at(settings, customer, step, tmp_path / f"erase-{customer}.log")
        unfinished = [e for e in erasures(settings.meta_path) if e.key == str(customer)]
        assert unfinished and unfinished[0].finished_at is None, (step, unfinished)

        again = run_cli("erase", "shop.customers", str(customer), data_dir=settings.data_dir)

        assert again.returncode == 0, (step, again.stdout, again.stderr)
        assert "Traceback" not in again.stderr
        assert find_values(settings.data_dir, wanted, skip=(source_db,)) == [], step
        [record] = [e for e in erasures(settings.meta_path) if e.key == str(customer)]
        assert record.finished_at is not None
        assert not values_path(settings.data_dir, record.erasure_id).exists()
    assert killed == len(points)  # every kill landed before the erase could finish
    assert_marts_match_source(settings)
