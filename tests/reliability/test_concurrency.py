"""Writers at once, and a reader throughout.

- Two `python -m pipeline.cli run` at once: one runs, the other waits for the writer lock and says so;
  a third with a short wait refuses clearly.
- The scheduler service running its ingest → transform → publish chain, and a manual run at once:
  the same.
- A reader process polls the published marts every 200 ms across every rebuild of this module:
  no error, and every answer is exactly that of a complete published version.
"""

from __future__ import annotations

import signal
import time

import pytest

from core import lock
from demo.day import advance_day
from pipeline.run import run_all
from publish.reader import current_version
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.project import settings_for
from tests.support.reconcile import assert_marts_match_source
from tests.support.scheduler import serve

pytestmark = pytest.mark.slow
KEEP = "PLATFORM__RUN__PUBLISH_KEEP_VERSIONS"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A published platform, and a reader polling it every 200 ms for the whole module."""
    root = tmp_path_factory.mktemp("concurrency")
    settings = settings_for(root / "data", **{KEEP: "20"})
    run_all(settings)
    reads = root / "reads.jsonl"
    reader = harness.start_reader(settings.data_dir, reads, 0.2, **{KEEP: "20"})
    wait_for(lambda: reads.exists() and reads.read_text().count("\n") >= 1, timeout=120, what="the reader's first read")
    yield settings, reader, reads, root
    if reader.poll() is None:
        harness.stop_reader(reader, reads)


def _run(settings, log, wait: str):
    return harness.spawn(["pipeline.cli", "run"], settings.data_dir, log, PLATFORM__RUN__LOCK_WAIT_SECONDS=wait, **{KEEP: "20"})


def _held_by(settings, purpose: str):
    return lambda: (lock.holder(settings.data_dir) or {}).get("purpose", "").startswith(purpose)


def _check_consistent(settings) -> None:
    assert_marts_match_source(settings)
    dupes = harness.staging_duplicate_keys(settings)
    assert not any(dupes.values()), dupes


def test_two_runs_at_once_one_waits_and_a_third_refuses(platform):
    settings, _, _, root = platform
    advance_day(settings.source_path("shop"), seed=101)
    logs = [root / "two" / f"run-{i}.log" for i in range(3)]
    first, second = _run(settings, logs[0], "600"), _run(settings, logs[1], "600")
    wait_for(_held_by(settings, "just run"), timeout=120, step=0.02, what="one run to hold the writer lock")
    impatient = _run(settings, logs[2], "0.5")
    assert impatient.wait(timeout=300) == 1
    assert first.wait(timeout=600) == 0, logs[0].read_text()[-2000:]
    assert second.wait(timeout=600) == 0, logs[1].read_text()[-2000:]

    refused = logs[2].read_text()
    assert "Another writer holds the lock" in refused and "running 'just run'" in refused and "Traceback" not in refused
    waited = [log.read_text() for log in logs[:2] if "lock: waiting for the writer lock" in log.read_text()]
    assert len(waited) == 1 and "running 'just run'" in waited[0], "exactly one of the two runs waited"
    _check_consistent(settings)
    harness.tally("concurrency/two_runs", writers=3, waited=1, refused=1)


def test_scheduler_and_a_manual_run_at_once(platform):
    settings, _, _, root = platform
    advance_day(settings.source_path("shop"), seed=202)
    before = current_version(settings).version
    jobs = {
        "ingest:shop": {"every_seconds": 3, "retries": 0},
        "transform": {"task": "transform", "after": ["ingest:*"]},
        "publish": {"task": "publish", "after": ["transform"]},
    }
    service = serve(settings.data_dir, jobs, **{KEEP: "20"})
    try:
        # the scheduler's build holds the lock longest: start the manual runs while it does
        held = _held_by(settings, "scheduled job transform")
        wait_for(lambda: held() or service.poll() is not None, timeout=300, step=0.02, what="the scheduled build to hold the lock")
        assert service.poll() is None, service.communicate()[1][-2000:]
        manual, refused = _run(settings, root / "sched" / "manual.log", "600"), _run(settings, root / "sched" / "refused.log", "0.5")
        assert refused.wait(timeout=300) == 1
        assert manual.wait(timeout=600) == 0, (root / "sched" / "manual.log").read_text()[-2000:]
        wait_for(lambda: _published_by_scheduler(settings), timeout=300, what="the scheduler's publish job")
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=180)
    assert service.returncode == 0, stderr[-2000:]
    text = (root / "sched" / "refused.log").read_text()
    assert "Another writer holds the lock" in text and "scheduled job" in text and "Traceback" not in text
    assert "lock: waiting for the writer lock" in (root / "sched" / "manual.log").read_text()
    assert current_version(settings).version != before
    _check_consistent(settings)
    harness.tally("concurrency/scheduler_and_manual", writers=3, waited=1, refused=1)


def _published_by_scheduler(settings) -> bool:
    from core import runlog

    return any(
        r["job"] == "publish" and r["status"] == "success" and r["trigger"] == "scheduled" for r in runlog.last_runs(settings.meta_path, 50)
    )


def test_reader_saw_only_complete_versions_across_rebuilds(platform):
    settings, reader, reads, _ = platform
    advance_day(settings.source_path("shop"), seed=303)
    run_all(settings)
    time.sleep(0.6)
    results = harness.stop_reader(reader, reads)
    seen = {r["version"] for r in results if "version" in r}
    versions = {v: _totals_of(settings, v) for v in seen}
    errors, wrong = harness.check_reads(results, versions)
    assert (errors, wrong) == (0, 0), [r for r in results if "error" in r][:3]
    assert len(seen) >= 2 and results[-1]["version"] == current_version(settings).version
    _check_consistent(settings)
    harness.tally("concurrency/reader", reads=len(results), versions_seen=len(seen), reader_errors=errors, wrong_answers=wrong)


def _totals_of(settings, version: str) -> list:
    """A published version's answer, computed from that version's own files (kept: publish_keep_versions=20)."""
    import contextlib

    from core import warehouse
    from core.lake import Lake
    from publish.marts import marts_folder
    from publish.versions import read_sql, read_version
    from tests.reliability.reader import QUESTION

    old = read_version(Lake(settings), marts_folder(settings), version)  # its own manifest: the files it names
    with contextlib.closing(Lake(settings).attach(warehouse.connect())) as con:
        con.execute("CREATE SCHEMA marts")
        for name in ("fct_orders", "daily_revenue", "dim_customers"):
            con.execute(f"CREATE VIEW marts.{name} AS {read_sql(old, name)}")
        orders, total, revenue, customers = con.execute(QUESTION).fetchone()
    return [orders, float(total), float(revenue), customers]


def test_reingest_and_doctor_say_they_wait_for_the_lock_and_leave_a_run_row(settings):
    from core import runlog
    from core.errors import PlatformError
    from core.lock import writer_lock
    from pipeline.recovery import doctor, reingest

    said: list[str] = []
    with writer_lock(settings.data_dir, purpose="another writer", wait_seconds=0):
        with pytest.raises(PlatformError, match="Another writer holds the lock"):
            reingest(settings, "shop", report=said.append)
        with pytest.raises(PlatformError, match="Another writer holds the lock"):
            doctor(settings, report=said.append)
    assert len(said) == 2 and all(line.startswith("waiting for the writer lock (") and "another writer" in line for line in said), said
    runs = {run["job"]: run for run in runlog.last_runs(settings.meta_path, 10)}
    assert runs["reingest:shop"]["status"] == "failed" and runs["doctor"]["status"] == "failed"
    assert "Another writer holds the lock" in runs["doctor"]["error"]
