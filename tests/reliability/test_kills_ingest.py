"""SIGKILL the ingest process in extract, normalize and load, locally and on a loopback S3 server.

Each attempt is a real job process (`python -m scheduler.worker`, as the scheduler starts it),
frozen the moment it reaches the targeted phase (read from dlt's working folder), then killed.
Between attempts the demo shop lives through a day, so every attempt has new and changed rows.
After a normal run: raw holds every source row's current version exactly once, staging has no
duplicate key, and the published marts equal the source.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from dlt.common.storages.load_package import PackageStorage

from core.erasure_list import COPY
from core.lake import Lake
from core.settings import Settings
from demo.day import advance_day
from demo.shop import generate
from pipeline.run import run_all
from tests.reliability import harness
from tests.support import s3server
from tests.support.project import settings_for
from tests.support.reconcile import assert_marts_match_source

pytestmark = pytest.mark.slow
KILLS_PER_PHASE = 2
PHASES = ("extract", "normalize", "load")


@pytest.fixture(scope="module")
def moto():
    server = s3server.start_moto()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_ingest_killed_in_every_phase_loses_and_duplicates_nothing(backend, moto, tmp_path):
    random_ = harness.rng(f"kills_ingest/{backend}")
    env = moto.lake_env() if backend == "s3" else {}
    settings = settings_for(tmp_path / "data", **env)
    demo = settings.demo
    generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
    Lake(settings).ensure_layers()

    kills = harness.KillLog()
    attempt = 0
    while min(kills.by_phase.get(p, 0) for p in PHASES) < KILLS_PER_PHASE:
        assert attempt < 8 * KILLS_PER_PHASE, f"could not land {KILLS_PER_PHASE} kills per phase: {kills}"
        wanted = [p for p in PHASES if kills.by_phase.get(p, 0) < KILLS_PER_PHASE]
        target = wanted[attempt % len(wanted)]
        if attempt:
            advance_day(settings.source_path("shop"), seed=demo.seed + attempt)
        child = harness.spawn_job(settings, "ingest", tmp_path / "logs" / f"attempt-{attempt}.log", source="shop")
        landed = harness.kill_ingest_in(settings, child, target, random_)
        print(f"attempt {attempt}: aimed at {target}, killed in {landed}")
        kills.add(landed)
        attempt += 1

    final = harness.spawn_job(settings, "ingest", tmp_path / "logs" / "final.log", source="shop")
    assert final.wait(timeout=300) == 0, (tmp_path / "logs" / "final.log").read_text()[-3000:]
    raw = harness.check_raw_matches_source(settings)
    assert (raw.missing, raw.duplicates, raw.stale) == (0, 0, 0), raw

    run_all(settings)
    dupes = harness.staging_duplicate_keys(settings)
    assert not any(dupes.values()), dupes
    assert_marts_match_source(settings)
    harness.tally(
        f"kills_ingest/{backend}",
        kills=sum(kills.by_phase.values()),
        by_phase=kills.by_phase,
        attempts_finished_before_kill=kills.missed,
        source_rows=raw.rows,
        rows_lost=raw.missing,
        duplicates=raw.duplicates + sum(dupes.values()),
    )


def test_the_first_ingest_killed_after_its_load_landed_does_not_block_the_next(tmp_path):
    """The erasure list's copy is in the lake before the first load can land in raw, so a first ingest
    killed between its load and its bookkeeping leaves no state the next run takes for a lost list."""
    settings = _first_ingest_killed_once_its_load_landed(tmp_path)
    _assert_the_next_ingest_completes_raw(settings, tmp_path / "logs" / "again.log")


def test_an_ingest_killed_between_dlt_marking_its_package_loaded_and_moving_it_does_not_block_the_next(tmp_path):
    """dlt writes a loaded package's completed marker, then renames the package from `normalized` to
    `loaded`; a run killed between the two leaves a pending package dlt refuses to finish ("already
    completed"). The next run completes the hand-over instead of failing on every later run."""
    settings = _first_ingest_killed_once_its_load_landed(tmp_path, whole_record=True)
    load = harness.dlt_dir(settings) / "load"
    (package,) = [path for path in [*load.glob("normalized/*"), *load.glob("loaded/*")] if path.is_dir()]
    if package.parent.name == "loaded":  # the kill came after the rename: put the package back where the window leaves it
        package = package.rename(load / "normalized" / package.name)
    (package / PackageStorage.PACKAGE_COMPLETED_FILE_NAME).write_text("loaded")
    _assert_the_next_ingest_completes_raw(settings, tmp_path / "logs" / "again.log")
    assert package.name in [p.name for p in load.glob("loaded/*")] and not [p for p in load.glob("normalized/*") if p.is_dir()]


def _first_ingest_killed_once_its_load_landed(tmp_path: Path, *, whole_record: bool = False) -> Settings:
    """The first ingest, SIGKILLed once its load's record is in raw's `_dlt_loads` (`whole_record`: once that record
    is written whole, as it is before dlt marks the package loaded; else as soon as its file exists)."""
    settings = settings_for(tmp_path / "data")
    demo = settings.demo
    generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
    lake = Lake(settings)
    lake.ensure_layers()
    copy, loads = Path(lake.url("raw", "shop", COPY)), Path(lake.url("raw", "shop", "_dlt_loads"))

    watch = harness.PhaseWatch(settings)
    child = harness.spawn_job(settings, "ingest", tmp_path / "logs" / "first.log", source="shop")
    deadline = time.monotonic() + 300
    while child.poll() is None and not watch.fresh("load") and time.monotonic() < deadline:
        time.sleep(0.001)
    os.killpg(child.pid, signal.SIGSTOP)
    assert child.poll() is None and watch.fresh("load"), "the first ingest was frozen in its load"
    assert copy.is_file(), "the erasure list's copy is in the lake before the first load lands in raw"
    os.killpg(child.pid, signal.SIGCONT)
    landed = (lambda: any(map(_whole_record, loads.glob("*.jsonl")))) if whole_record else (lambda: any(loads.glob("*.jsonl")))
    while child.poll() is None and not landed() and time.monotonic() < deadline:
        time.sleep(0.001)
    harness.sigkill(child)
    assert landed(), "the first ingest's load landed in raw before the kill"
    return settings


def _whole_record(path: Path) -> bool:
    """dlt creates a load's record, then writes its line: a kill in between leaves it empty."""
    try:
        return json.loads(path.read_text()).get("status") == 0
    except (OSError, ValueError):
        return False


def _assert_the_next_ingest_completes_raw(settings: Settings, log: Path) -> None:
    again = harness.spawn_job(settings, "ingest", log, source="shop")
    assert again.wait(timeout=300) == 0, log.read_text()[-3000:]
    raw = harness.check_raw_matches_source(settings)
    assert (raw.missing, raw.duplicates, raw.stale) == (0, 0, 0), raw
