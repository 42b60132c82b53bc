"""Job processes start warm, forked from a server that imported the stages once, and stay isolated:
nothing carries from one job to the next, each sees the environment as it is when it starts, and code
changed since the server started is never run stale."""

from __future__ import annotations

import json
import logging
import os
import sys
import types

import pytest

from scheduler import warm
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from tests.support.scheduler import TASKS, job_settings

pytestmark = pytest.mark.slow  # job processes

STAGES = ["dlt", "duckdb", "pipeline.stages", "sqlmesh"]


def _probe_runner(tmp_path):
    out = tmp_path / "probe.jsonl"
    jobs = {"probe": {"task": f"{TASKS}:probe", "args": {"path": str(out), "variable": "WARM_PROBE"}, "schedule": "0 0 1 1 *"}}
    settings = job_settings(tmp_path / "data", jobs)
    runner = Runner(settings, job_specs(settings))
    assert warm.ready(timeout=300), "the warm server has its imports done"
    return runner, out


def _probes(out) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_jobs_start_with_the_stages_imported_and_carry_nothing_from_the_job_before(tmp_path, monkeypatch):
    # As under `python -m scheduler.cli`: no script for a forked job to run again (a test process may have run one).
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    runner, out = _probe_runner(tmp_path)
    monkeypatch.setenv("WARM_PROBE", "first")
    assert runner.run("probe", "manual") == "success"
    monkeypatch.setenv("WARM_PROBE", "second")
    assert runner.run("probe", "manual") == "success"
    first, second = _probes(out)
    assert first["preloaded"] == second["preloaded"] == STAGES
    assert first["calls"] == second["calls"] == 1  # a process of its own each time
    assert first["pid"] != second["pid"] != os.getpid()
    assert (first["variable"], second["variable"]) == ("first", "second")


def test_a_job_started_after_the_code_changed_runs_in_a_fresh_interpreter(tmp_path, monkeypatch, caplog):
    runner, out = _probe_runner(tmp_path)
    started_with = warm.fingerprint()
    monkeypatch.setattr(warm, "fingerprint", lambda: f"{started_with} edited")
    with caplog.at_level(logging.WARNING, logger="duckstack.scheduler"):
        assert runner.run("probe", "manual") == "success"
    [fresh] = _probes(out)
    assert "pipeline.stages" not in fresh["preloaded"]  # imported from the files as they are now
    assert "jobs start in a fresh interpreter (slower) until it restarts" in caplog.text


def test_the_fingerprint_follows_the_projects_python_files(tmp_path):
    package = tmp_path / "stage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "step.py"
    module.write_text("VALUE = 1\n")
    before = warm.fingerprint(tmp_path)
    assert warm.fingerprint(tmp_path) == before
    (tmp_path / "notes.txt").write_text("not code")
    assert warm.fingerprint(tmp_path) == before
    module.write_text("VALUE = 2\n")
    os.utime(module, ns=(module.stat().st_atime_ns, module.stat().st_mtime_ns + 1_000_000))
    assert warm.fingerprint(tmp_path) != before


def test_the_fingerprint_follows_installed_packages_not_their_bytecode(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "alpha-1.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(warm.sysconfig, "get_paths", lambda: {"purelib": str(site)})
    before = warm.fingerprint(tmp_path)
    (site / "__pycache__").mkdir()  # a module's first import writes its bytecode beside it
    (site / "__pycache__" / "six.cpython-311.pyc").write_bytes(b"")
    assert warm.fingerprint(tmp_path) == before
    (site / "alpha-1.0.dist-info").rename(site / "alpha-1.1.dist-info")  # upgraded
    upgraded = warm.fingerprint(tmp_path)
    assert upgraded != before
    (site / "beta-2.0.dist-info").mkdir()  # installed
    assert warm.fingerprint(tmp_path) not in (before, upgraded)


def test_a_runner_whose_main_module_is_a_script_starts_its_jobs_fresh(tmp_path, monkeypatch):
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit(3)\n")  # what a fork would run again before the job
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    runner, out = _probe_runner(tmp_path)
    assert runner.run("probe", "manual") == "success"
    assert _probes(out)[0]["calls"] == 1
