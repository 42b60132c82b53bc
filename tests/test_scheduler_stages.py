"""The real stage jobs through the scheduler's runner: ingest, then transform, then publish, under the writer lock."""

from __future__ import annotations

import pytest

from core import runlog
from demo.shop import generate
from publish.reader import current_version
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from tests.support.project import settings_for
from tests.support.reconcile import assert_marts_match_source


@pytest.mark.slow
def test_ingest_job_runs_transform_then_publish_and_the_marts_match_the_source(tmp_path):
    settings = settings_for(tmp_path / "data")
    demo = settings.demo
    generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
    runner = Runner(settings, job_specs(settings))

    assert runner.run("ingest:shop", "scheduled") == "success"
    first = {r["job"]: r for r in runlog.last_runs(settings.meta_path)}
    assert {job: r["status"] for job, r in first.items()} == {"ingest:shop": "success", "transform": "success", "publish": "success"}
    assert first["ingest:shop"]["rows_out"] > 0 and first["transform"]["rows_out"] > 0
    assert (
        first["ingest:shop"]["finished_at"]
        <= first["transform"]["started_at"]
        <= first["transform"]["finished_at"]
        <= first["publish"]["started_at"]
    )
    assert_marts_match_source(settings)  # the transform job published what it built ...
    published = current_version(settings)
    assert first["publish"]["rows_out"] == 0  # ... so the publish job after it found nothing owed

    assert runner.run("publish", "manual") == "success"  # no transform built anything since: nothing republished
    assert runlog.last_runs(settings.meta_path, 1)[0]["rows_out"] == 0
    assert current_version(settings).version == published.version
    (settings.data_dir / ".publish-pending").touch()  # a build killed before its publish: the publish job owes one
    assert runner.run("publish", "manual") == "success"
    assert runlog.last_runs(settings.meta_path, 1)[0]["rows_out"] == sum(current_version(settings).rows.values()) > 0
    assert current_version(settings).version != published.version
