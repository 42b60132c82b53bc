"""SIGKILL the SQLMesh build at random points; a reader in another process watches the published marts.

The build runs as the scheduler runs it (`python -m scheduler.worker`, task transform). Each kill
comes at a seeded random delay, spread over the measured duration of a build, after the worker
took the writer lock. After every kill the warehouse opens again; the reader, polling every
200 ms, only ever sees complete published versions: the one before the kills, or one a job
published before its kill came (the transform job builds, then publishes in one manifest
switch). Then a normal run finishes, publishes once, and the marts equal the source.
"""

from __future__ import annotations

import time

import pytest

from core import lock
from core.run_context import open_run
from demo.day import advance_day
from ingest.pipeline import ingest_source
from pipeline.run import run_all
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.project import settings_for
from tests.support.reconcile import assert_marts_match_source

pytestmark = pytest.mark.slow
KILLS = 5


def test_transform_killed_at_random_points_keeps_the_published_marts(tmp_path):
    random_ = harness.rng("kills_transform")
    settings = settings_for(tmp_path / "data")
    first = run_all(settings)
    versions = dict([harness.published_totals(settings)])
    published = [first.published_version]
    build_seconds = first.seconds["transform"]

    reads = tmp_path / "reads.jsonl"
    reader = harness.start_reader(settings.data_dir, reads, 0.2)
    try:
        wait_for(lambda: reads.exists() and reads.read_text().count("\n") >= 2, timeout=120, what="the reader's first reads")
        landed = attempts = 0
        while landed < KILLS:
            assert attempts < 3 * KILLS, f"only {landed} of {attempts} kills landed inside the build"
            if attempts % 2 == 0:  # new rows for the build to restate, from a completed ingest
                advance_day(settings.source_path("shop"), seed=settings.demo.seed + attempts)
                ingest_source(open_run(settings), "shop")
            child = harness.spawn_job(settings, "transform", tmp_path / "logs" / f"build-{attempts}.log")
            # wait_for calls the lambda only within this iteration, so it always sees this `child`.
            wait_for(
                lambda: (lock.holder(settings.data_dir) or {}).get("pid") == child.pid or child.poll() is not None,  # noqa: B023
                timeout=120,
                step=0.01,
                what="the build to take the writer lock",
            )
            time.sleep(random_.uniform(0.05, 0.9) * build_seconds)
            alive = child.poll() is None
            harness.sigkill(child)
            print(f"build {attempts}: {'killed' if alive else 'had finished'} (exit {child.returncode})")
            landed += alive
            # A job that got as far as its publish (whether the kill came after it or not) switched
            # the manifest to a complete version: readers may see that one too.
            version, totals = harness.published_totals(settings)
            if version not in versions:
                versions[version] = totals
                published.append(version)
            attempts += 1
            assert harness.warehouse_opens(settings)
            assert lock.holder(settings.data_dir) is None, "a killed build left the writer lock held"
        during_kills = len(reads.read_text().splitlines())

        final = run_all(settings)
        versions.update([harness.published_totals(settings)])
        time.sleep(0.6)  # the reader sees the new version too
    finally:
        results = harness.stop_reader(reader, reads)

    # the final run publishes anew unless the last job already published everything loaded
    assert final.published_version in versions and len(versions) == len(set(published) | {final.published_version})
    errors, wrong = harness.check_reads(results, versions)
    assert (errors, wrong) == (0, 0), results[:5]
    assert {r["version"] for r in results[:during_kills]} <= set(published), "a reader saw a killed build's output"
    assert results[-1]["version"] == final.published_version
    assert_marts_match_source(settings)
    dupes = harness.staging_duplicate_keys(settings)
    assert not any(dupes.values()), dupes
    harness.tally(
        "kills_transform",
        kills=landed,
        attempts=attempts,
        reads=len(results),
        reader_errors=errors,
        wrong_answers=wrong,
        duplicates=sum(dupes.values()),
    )
