"""The operator commands as `just` runs them: jobs, pause/resume, trigger, history, connections, reset, setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core import runlog
from scheduler import ops, store
from tests.conftest import ROOT, SMALL_SCALE, settings_for
from tests.test_scheduler_runs import OFF


def ops_cli(*args: str, data_dir, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "COLUMNS": "250", **env})
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_operator_commands(tmp_path):
    data = tmp_path / "data"
    jobs = ops_cli("jobs", data_dir=data)
    assert jobs.returncode == 0, jobs.stderr
    assert "hello_world" in jobs.stdout and "cron */30 * * * *" in jobs.stdout and "after ingest:shop" in jobs.stdout

    assert ops_cli("pause", "hello_world", data_dir=data).returncode == 0
    assert {r["job_id"]: r["paused"] for r in store.snapshot(data / "meta.db")}["hello_world"] == 1
    assert ops_cli("resume", "hello_world", data_dir=data).returncode == 0
    assert {r["job_id"]: r["paused"] for r in store.snapshot(data / "meta.db")}["hello_world"] == 0

    triggered = ops_cli("trigger", "hello_world", data_dir=data)
    assert triggered.returncode == 0 and "Job hello_world: success, rows out 1" in triggered.stdout
    history = ops_cli("history", "hello_world", data_dir=data)
    assert "manual" in history.stdout and "success" in history.stdout

    unknown = ops_cli("trigger", "nope", data_dir=data)
    assert unknown.returncode == 1 and "No job 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr

    refused = ops_cli("reset", data_dir=data)
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    assert runlog.last_runs(data / "meta.db")
    assert ops_cli("reset", "--yes", data_dir=data).returncode == 0
    assert runlog.last_runs(data / "meta.db") == []


def test_connections_check_live_and_mask_secrets(tmp_path):
    from tests.receivers import WebhookReceiver

    webhook = WebhookReceiver()
    try:
        env = {
            "PLATFORM__ALERTS__CHANNELS": json.dumps({"slack": {"kind": "webhook"}, "mail": {"kind": "email", "smtp_port": 9, "to": ["a@b.c"]}}),
            "PLATFORM__ALERTS__CHANNELS__SLACK__URL": webhook.url,
        }
        result = ops_cli("connections", data_dir=tmp_path / "data", **env)
    finally:
        webhook.close()
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") > 4}
    port = webhook.url.split(":")[2].split("/")[0]
    assert f"http://127.0.0.1:{port}/***" in rows["slack"] and "yes" in rows["slack"]
    assert "NO" in rows["mail"] and "NO" in rows["shop"]  # nothing listens on port 9; the demo source is not generated yet
    assert "SECRET-TOKEN" not in result.stdout + result.stderr


def test_a_bad_job_config_is_refused_naming_the_entry(tmp_path):
    bad = json.dumps({**OFF, "report": {"task": "hello_world", "after": ["ingest:nothing"]}})
    result = ops_cli("jobs", data_dir=tmp_path / "data", PLATFORM__JOBS__DEFINE=bad)
    assert result.returncode == 1
    assert "jobs.define.report: `after` names 'ingest:nothing', which matches no enabled job" in result.stderr


def test_setup_is_idempotent(tmp_path):
    (tmp_path / ".env.example").write_text("# example\n")
    settings = settings_for(tmp_path / "data").model_copy(update={"project_dir": tmp_path})
    said: list[str] = []
    ops.setup(settings, said.append)
    (tmp_path / ".env").write_text("KEEP=1\n")
    ops.setup(settings, said.append)
    assert (tmp_path / ".env").read_text() == "KEEP=1\n"
    assert all((settings.lake_root / layer).is_dir() for layer in ("raw", "staging", "curated"))
    assert said[0].startswith("created") and "left as it is" in said[2]


def test_start_status_stop_manage_the_scheduler_in_the_background(tmp_path):
    data = tmp_path / "data"
    quiet = {"PLATFORM__JOBS__DEFINE": json.dumps({**OFF, "hello_world": {"task": "hello_world", "schedule": "0 0 1 1 *"}})}
    started = ops_cli("start", data_dir=data, **quiet)
    try:
        assert started.returncode == 0, started.stderr
        assert "scheduler: started" in started.stdout and "healthy" in started.stdout
        pid = int((data / "run" / "scheduler.pid").read_text())
        status = ops_cli("status", data_dir=data, **quiet)
        (line,) = [line for line in status.stdout.splitlines() if "│ scheduler" in line]
        assert "running" in line and str(pid) in line and "True" in line
        assert "2027-01-01 00:00:00" in status.stdout  # hello_world's next run, from the scheduled_jobs snapshot
    finally:
        stopped = ops_cli("stop", data_dir=data, **quiet)
    assert stopped.returncode == 0 and f"scheduler: stopped (pid {pid})" in stopped.stdout
    assert not (data / "run" / "scheduler.pid").exists()
