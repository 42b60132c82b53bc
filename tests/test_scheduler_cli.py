"""The operator commands as `just` runs them: jobs, pause/resume, trigger, history, connections, reset, setup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from core import runlog
from scheduler import cli, ops, store
from scheduler.cli import main
from tests.support.project import ROOT, SMALL_SCALE, settings_for
from tests.support.scheduler import OFF


def ops_cli(*args: str, data_dir, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "COLUMNS": "250", **env})
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def ops_main(tmp_path, monkeypatch, capsys):
    """The command line in this process (fast), on a temporary data folder: returns (exit code, stdout, stderr)."""
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli.out, "width", 250)  # tables as on a wide terminal, not wrapped at 80 columns

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["--project", str(ROOT), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.slow
def test_operator_commands(tmp_path, ops_main):
    data = tmp_path / "data"
    code, jobs, _ = ops_main("jobs")
    assert code == 0 and "hello_world" in jobs and "*/30 * * * *" in jobs and "after ingest:shop (any that succeeded)" in jobs

    assert ops_main("pause", "hello_world")[0] == 0
    assert {r["job_id"]: r["paused"] for r in store.snapshot(data / "meta.db")}["hello_world"] == 1
    assert ops_main("resume", "hello_world")[0] == 0
    assert {r["job_id"]: r["paused"] for r in store.snapshot(data / "meta.db")}["hello_world"] == 0

    triggered = ops_cli("trigger", "hello_world", data_dir=data)  # in its own process: it handles Ctrl-C itself
    assert triggered.returncode == 0 and "Job hello_world: success, rows out 1" in triggered.stdout
    code, history, _ = ops_main("history", "hello_world")
    assert code == 0 and "manual" in history and "success" in history
    narrow = ops_cli("history", data_dir=data, COLUMNS="80")  # a terminal 80 characters wide: every line fits, nothing cut
    lines = narrow.stdout.splitlines()
    assert narrow.returncode == 0 and max(len(line.rstrip()) for line in lines) <= 80, narrow.stdout
    row = next(line for line in lines if "hello_world" in line)
    assert "manual" in row and "success" in row and re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row) and "…" not in narrow.stdout

    code, _, unknown = ops_main("pause", "nope")
    assert code == 1 and "No job 'nope'" in unknown

    code, _, refused = ops_main("reset")
    assert code == 1 and "pass --yes" in refused
    assert runlog.last_runs(data / "meta.db")
    assert ops_main("reset", "--yes")[0] == 0
    assert runlog.last_runs(data / "meta.db") == []


@pytest.mark.slow
def test_connections_check_live_and_mask_secrets(tmp_path):
    from tests.support.receivers import WebhookReceiver

    webhook = WebhookReceiver()
    try:
        env = {
            "PLATFORM__ALERTS__CHANNELS": json.dumps(
                {"slack": {"kind": "webhook"}, "mail": {"kind": "email", "smtp_port": 9, "to": ["a@b.c"]}}
            ),
            "ALERTS_SLACK_WEBHOOK_URL": webhook.url,
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


def test_a_bad_job_config_is_refused_naming_the_entry(ops_main):
    bad = json.dumps({**OFF, "report": {"task": "hello_world", "after": ["ingest:nothing"]}})
    code, _, stderr = ops_main("jobs", PLATFORM__JOBS__DEFINE=bad)
    assert code == 1
    assert "jobs.define.report: `after` names 'ingest:nothing', which matches no enabled job" in stderr


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


@pytest.mark.slow
def test_start_status_stop_manage_the_scheduler_in_the_background(tmp_path, ops_main):
    data = tmp_path / "data"
    quiet = {"PLATFORM__JOBS__DEFINE": json.dumps({**OFF, "hello_world": {"task": "hello_world", "schedule": "0 0 1 1 *"}})}
    code, started, stderr = ops_main("start", **quiet)
    try:
        assert code == 0, stderr
        assert "scheduler: started" in started and "healthy" in started
        pid = int((data / "run" / "scheduler.pid").read_text())
        code, status, _ = ops_main("status")
        (line,) = [line for line in status.splitlines() if "│ scheduler" in line]
        assert "running" in line and str(pid) in line and "True" in line
        assert "2027-01-01 00:00:00" in status  # hello_world's next run, from the scheduled_jobs snapshot
    finally:
        code, stopped, _ = ops_main("stop")
    assert code == 0 and f"scheduler: stopped (pid {pid})" in stopped
    assert not (data / "run" / "scheduler.pid").exists()
