"""Fault drills for `just doctor` and `just run`: a lost raw file, a damaged manifest and warehouse, an
orphaned run. Every damage is seen by both, doctor repairs everything a run would, `doctor --check`
writes nothing, and afterwards the published marts reconcile with the source again.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from core.lake import Lake
from core.run_context import open_run
from demo.day import advance_day
from ingest.raw_manifest import MANIFEST, missing_raw_files
from pipeline import cli
from publish.marts import marts_folder
from publish.reader import current_version
from publish.versions import MANIFEST as PUBLISH_MANIFEST
from tests.support.project import ROOT, SMALL_SCALE
from tests.support.reconcile import assert_marts_match_source


@pytest.fixture
def platform(built_copy, monkeypatch, capsys):
    """The command line in this process on the copied build: returns (exit code, one-line output)."""
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    for name, value in {
        "PLATFORM__DATA_DIR": str(built_copy.data_dir),
        "PLATFORM__DEMO__SCALE": SMALL_SCALE,
        "PLATFORM__RUN__LOCK_WAIT_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli.out, "width", 2000)  # wide enough that no cell wraps, whatever the path lengths

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["--project", str(ROOT), *args])
        captured = capsys.readouterr()
        output = " ".join((captured.out + captured.err).split())
        assert "Traceback" not in output, output
        return code, output

    return run


def _listing(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under the data folder with its size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(data_dir))] = (stat.st_size if name in files else 0, stat.st_mtime_ns)
    return found


def test_a_lost_raw_file_stops_the_run_and_doctor_reads_its_table_again(built_copy, platform):
    settings = built_copy
    raw = Lake(settings).url("raw", "shop")
    assert (Path(raw) / MANIFEST).is_file()  # the completed loads recorded their files
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    lost = sorted(Path(raw, "orders").glob("*.parquet"))[0]
    lost.unlink()
    published = current_version(settings)

    code, output = platform("run")
    assert code == 1
    assert f"the raw file {lost} of shop.orders, written by a completed load, is missing" in output, output
    assert "just reingest shop.orders" in output
    assert current_version(settings) == published  # nothing half-built was published

    code, output = platform("doctor", "--check")
    assert code == 1 and f"raw file {lost}" in output and "missing, though a completed load wrote it" in output, output
    assert current_version(settings) == published

    code, output = platform("doctor")
    assert code == 0, output
    assert "repair: reingested shop.orders" in output and "repair: built and published" in output
    assert "just doctor" not in output
    assert missing_raw_files(open_run(settings)) == []
    assert_marts_match_source(settings)


def test_doctor_check_writes_nothing_and_doctor_repairs_what_a_run_cannot(built_copy, platform):
    settings = built_copy
    data = settings.data_dir
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    (Path(marts_folder(settings)) / PUBLISH_MANIFEST).write_text("")  # an empty marts manifest
    warehouse = settings.warehouse_path.read_bytes()
    settings.warehouse_path.write_bytes(warehouse[: len(warehouse) // 3])  # a truncated warehouse

    code, output = platform("run")
    assert code == 1 and "damaged" in output and "`just doctor`" in output and "next `just run`" not in output, output
    with sqlite3.connect(settings.meta_path) as con:  # a run whose process is gone, still shown as running
        con.execute(
            "INSERT INTO job_runs (job, trigger, attempt, started_at, status, pid) "
            "VALUES ('transform', 'cron', 1, '2026-01-01', 'running', ?)",
            (2**22 + 12345,),
        )

    before = _listing(data)
    code, output = platform("doctor", "--check")
    assert code == 1, output
    assert "is unreadable" in output and f"warehouse {settings.warehouse_path}" in output
    assert "1 run(s) shown as running whose process is gone" in output
    assert _listing(data) == before  # `--check` wrote, moved and touched nothing

    code, output = platform("doctor")
    assert code == 0, output
    assert "just doctor" not in output, output
    with sqlite3.connect(settings.meta_path) as con:
        assert con.execute("SELECT count(*) FROM job_runs WHERE status = 'running'").fetchone() == (0,)
    assert list(data.glob("warehouse.duckdb.damaged-*"))
    assert_marts_match_source(settings)
    code, output = platform("doctor", "--check")
    assert code == 0 and "PROBLEM" not in output, output
