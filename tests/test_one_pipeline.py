"""Every path into the stages publishes what `just run` publishes, or fails loudly (issue 19).

Each test replays what an operator saw: a job run alone, a clock that jumped, a scheduler killed
with -9, a damaged manifest, raw file or warehouse. After each, the published marts must equal
the source, and every successful path must leave no completed load unreflected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.lake import Lake
from core.lock import holder
from core.run_context import open_run
from core.settings import load_settings
from demo.day import advance_day
from pipeline import stages
from pipeline.raw_files import damaged_raw_files
from pipeline.recovery import doctor, reingest
from pipeline.run import run_all
from publish.marts import marts_folder
from publish.reader import connect_published, current_version
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from scheduler.services import definitions
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.project import ROOT, copy_project, run_cli, settings_for
from tests.support.reconcile import assert_marts_match_source
from tests.support.sources import settings_with_sources

pytestmark = pytest.mark.slow


def _day(settings) -> None:
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)


def _job(settings, job_id: str) -> str:
    """One job alone, as `just test-job` runs it: a worker process, one attempt, no dependants."""
    return Runner(settings, job_specs(settings)).run(job_id, "manual", retries=False, cascade=False, alert=False)


def _alive(pid: int) -> bool:
    """A process that runs (a zombie left for an init that does not reap it has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _running_rows(settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        return con.execute("SELECT job, pid FROM job_runs WHERE status = 'running'").fetchall()


def test_jobs_run_alone_a_jumping_clock_and_a_damaged_manifest_all_end_with_the_marts_equal_to_the_source(built_copy, monkeypatch):
    settings = built_copy
    first = current_version(settings)

    # `just test-job ingest:shop` then `just test-job transform`: the transform job publishes what it built
    _day(settings)
    assert _job(settings, "ingest:shop") == "success"
    assert _job(settings, "transform") == "success"
    assert current_version(settings).version != first.version
    assert stages.unreflected_loads(open_run(settings)) == []
    assert_marts_match_source(settings)
    after_jobs = run_all(settings)
    assert after_jobs.models_built == [] and after_jobs.publish_reason is None

    # one run with the clock two days ahead: dlt takes its load ids from it
    from dlt.common.storages import load_package

    real = load_package.increasing_precise_time
    _day(settings)
    monkeypatch.setattr(load_package, "increasing_precise_time", lambda: real() + 2 * 86400)
    ahead = run_all(settings)
    monkeypatch.setattr(load_package, "increasing_precise_time", real)
    assert ahead.models_built
    _day(settings)
    back = run_all(settings)  # its load id sorts before the one made two days ahead
    assert back.rows_loaded["shop"] and back.models_built and back.publish_reason is not None
    assert_marts_match_source(settings)

    # an empty manifest, then a published version folder deleted: the next run publishes again
    lake = Lake(settings)
    manifest = f"{marts_folder(settings)}/_manifest.json"
    Path(manifest).write_text("")
    assert stages.publish_reason(open_run(settings)).startswith("damaged")
    repaired = run_all(settings)
    assert repaired.publish_reason.startswith("damaged")
    shutil.rmtree(Path(current_version(settings).files["fct_orders"].split("/version=")[0]))
    assert "missing for fct_orders" in stages.publish_reason(open_run(settings))
    again = run_all(settings)
    assert again.publish_reason and again.models_built == []
    con, _ = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] > 0
    assert_marts_match_source(settings)
    assert lake.exists(manifest)


def test_a_killed_trigger_takes_its_worker_with_it_and_history_tells_the_truth(built_copy, tmp_path):
    settings = built_copy
    _day(settings)
    log = tmp_path / "trigger.log"
    trigger = harness.spawn(["scheduler.cli", "trigger", "ingest:shop"], settings.data_dir, log)
    wait_for(
        lambda: (holder(settings.data_dir) or {}).get("purpose") == "scheduled job transform",
        timeout=180,
        step=0.05,
        what=f"the transform job to hold the lock ({log})",
    )
    worker = holder(settings.data_dir)["pid"]
    os.kill(trigger.pid, signal.SIGKILL)  # the trigger only: its worker runs in a session of its own
    trigger.wait(timeout=30)
    wait_for(lambda: holder(settings.data_dir) is None, timeout=30, what="the orphaned worker to stop and free the lock")
    wait_for(lambda: not _alive(worker), timeout=30, what="the orphaned worker to exit")
    assert "the scheduler that started this job is gone" in (settings.data_dir / "logs" / "jobs" / "transform.log").read_text()
    assert _running_rows(settings)  # the killed trigger could not close its rows ...
    status = run_cli("erasures", data_dir=settings.data_dir)
    assert "Traceback" not in status.stderr
    assert _running_rows(settings) == []  # ... any command's start (but `doctor --check`, which writes nothing) marks them interrupted

    # `just run` killed with -9 during its build: the next command tells the truth, the next run catches up
    run = harness.spawn(["pipeline.cli", "run"], settings.data_dir, tmp_path / "run.log")
    wait_for(lambda: (holder(settings.data_dir) or {}).get("purpose") == "just run", timeout=120, step=0.05, what="just run to start")
    time.sleep(3)
    harness.sigkill(run)
    run_cli("erasures", data_dir=settings.data_dir)
    assert _running_rows(settings) == []
    run_all(settings)
    assert stages.unreflected_loads(open_run(settings)) == []
    assert_marts_match_source(settings)


def test_a_damaged_raw_file_and_a_truncated_warehouse_are_named_and_recovered(built_copy):
    settings = built_copy
    raw_file = sorted(Path(Lake(settings).url("raw", "shop", "orders")).glob("*.parquet"))[0]
    raw_file.write_bytes(raw_file.read_bytes()[: raw_file.stat().st_size // 2])
    assert [table for _, table, _ in damaged_raw_files(open_run(settings))] == ["shop.orders"]
    _day(settings)
    failed = run_cli("run", data_dir=settings.data_dir)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert f"the raw file {raw_file} is damaged" in failed.stderr and "just reingest shop.orders" in failed.stderr, failed.stderr
    reingest(settings, "shop", "orders")
    assert damaged_raw_files(open_run(settings)) == []
    assert stages.unreflected_loads(open_run(settings)) == []
    assert_marts_match_source(settings)

    data = settings.warehouse_path.read_bytes()
    settings.warehouse_path.write_bytes(data[: len(data) // 3])
    failed = run_cli("run", data_dir=settings.data_dir)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr and "damaged" in failed.stderr, failed.stderr
    findings = doctor(settings, repair=True)
    assert any(f.what.startswith("repair:") for f in findings)
    assert list(settings.warehouse_path.parent.glob("*.damaged-*"))
    assert_marts_match_source(settings)


def test_a_file_drop_source_ingests_in_the_scheduler(tmp_path):
    declaration = {"kind": "files", "landing": "landing/drops", "settle_seconds": 0, "tables": {"orders": {"pattern": "orders*"}}}
    settings = settings_with_sources(tmp_path, {"drops": declaration})
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True)
    (landing / "orders-1.csv").write_text("id,status,updated_at\n1,placed,2025-03-01 10:00:00\n2,paid,2025-03-01 11:00:00\n")
    assert _job(settings, "ingest:drops") == "success"
    assert stages.ingest(open_run(settings), "drops").rows == {}  # loaded once, by the job


def test_an_env_override_that_is_not_yaml_is_taken_as_text(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__SOURCES__SHOP__SCHEDULE="*/15 * * * *")
    assert settings.sources["shop"].schedule == "*/15 * * * *"
    assert job_specs(settings)["ingest:shop"].describe_trigger() == "cron */15 * * * *"


def test_a_typo_in_the_sqlmesh_part_of_config_yaml_is_one_message(tmp_path):
    project = tmp_path / "project"
    copy_project(project)
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("default_gateway: local", "default_gatewy: local"))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--project", str(project), "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=harness.child_env(tmp_path / "data"),
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "default_gatewy" in result.stderr and "config.yaml" in result.stderr


def test_start_serves_the_app_the_way_just_app_does(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__APP__PORT="8611")
    app = next(service for service in definitions(settings) if service.name == "app")
    assert app.command[1:] == ["-m", "app.cli", "--project", str(settings.project_dir), "serve"]
    assert load_settings(ROOT).app.users == {}  # no logins by default: app.cli binds to 127.0.0.1
    api = next(service for service in definitions(settings) if service.name == "api")
    assert api.command is None and "no API keys" in api.why
    with_keys = settings_for(tmp_path / "data", PLATFORM__API__KEYS__REPORTING="business")
    api = next(service for service in definitions(with_keys) if service.name == "api")
    assert api.command[1:] == ["-m", "api.cli", "--project", str(settings.project_dir), "serve"]


def test_two_demo_days_at_once_take_turns(settings, tmp_path):
    from demo.shop import generate

    demo = settings.demo
    generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
    (days_before,) = sqlite3.connect(settings.source_path("shop")).execute("SELECT count(DISTINCT date(ordered_at)) FROM orders").fetchone()
    both = [harness.spawn(["pipeline.cli", "demo-day"], settings.data_dir, tmp_path / f"day{i}.log") for i in (1, 2)]
    assert [child.wait(timeout=120) for child in both] == [0, 0], [(tmp_path / f"day{i}.log").read_text() for i in (1, 2)]
    (days_after,) = sqlite3.connect(settings.source_path("shop")).execute("SELECT count(DISTINCT date(ordered_at)) FROM orders").fetchone()
    assert days_after == days_before + 2


def test_plan_says_whom_it_waits_for(settings):
    from core.lock import writer_lock

    with writer_lock(settings.data_dir, purpose="a long build", wait_seconds=0):
        result = subprocess.run(
            [sys.executable, "-m", "pipeline.env_cli", "plan", "dev"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env=harness.child_env(settings.data_dir, PLATFORM__RUN__LOCK_WAIT_SECONDS="2"),
        )
    assert "waiting for the writer lock" in result.stderr and "a long build" in result.stderr, result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_a_read_only_data_folder_is_one_message(tmp_path):
    where = tmp_path / "ro"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only data folder needs root to mount a tmpfs (CI runs as root; root ignores file modes)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=8m", "tmpfs", str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused here: {mounted.stderr.strip()}")
    try:
        result = run_cli("run", data_dir=where / "data")
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot write" in result.stderr and "writable" in result.stderr, result.stderr
