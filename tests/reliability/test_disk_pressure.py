"""A run that runs out of disk space: it fails saying so, and the published marts stay intact and readable.

The data folder lives on a tmpfs of its own (mounted by the test, which needs root, as CI has).
After a first complete run the filesystem is shrunk to what it holds plus a few hundred KB; the
next run (after a simulated day) fills it. Then it grows again and a run completes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

import pytest

from demo.day import advance_day
from publish.reader import current_version
from tests.reliability import harness
from tests.support.project import ROOT, settings_for
from tests.support.reconcile import assert_marts_match_source

pytestmark = pytest.mark.slow
HEADROOM_KB = 256


def _mount(where, size: str, remount: bool = False) -> subprocess.CompletedProcess:
    options = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)


@pytest.fixture
def tiny_fs(tmp_path):
    where = tmp_path / "fs"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk pressure needs root to mount a small tmpfs (CI runs as root)")
    mounted = _mount(where, "64m")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused here: {mounted.stderr.strip()}")
    yield where
    with contextlib.suppress(Exception):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _run(settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=harness.child_env(settings.data_dir),
    )


def test_a_full_disk_fails_the_run_clearly_and_keeps_the_published_marts(tiny_fs):
    settings = settings_for(tiny_fs / "data")
    first = _run(settings)
    assert first.returncode == 0, first.stderr[-3000:]
    before = harness.published_totals(settings)

    advance_day(settings.source_path("shop"), seed=11)
    used_kb = shutil.disk_usage(tiny_fs).used // 1024
    assert _mount(tiny_fs, f"{used_kb + HEADROOM_KB}k", remount=True).returncode == 0
    full = _run(settings)
    assert full.returncode == 1, full.stdout[-2000:] + full.stderr[-2000:]
    message = " ".join(full.stderr.split())
    assert "No space left on device" in message or "out of disk space" in message, full.stderr[-3000:]
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    assert harness.published_totals(settings) == before, "the published marts changed"

    assert _mount(tiny_fs, "64m", remount=True).returncode == 0
    healed = _run(settings)
    assert healed.returncode == 0, healed.stderr[-3000:]
    assert current_version(settings).version != before[0], healed.stdout[-3000:]
    harness.tally("disk_pressure", faults=1, free_kb=HEADROOM_KB, message=_said(full.stderr))
    # a build that failed half-way (staging restated, marts not yet) is finished by the next one
    assert_marts_match_source(settings)
    dupes = harness.staging_duplicate_keys(settings)
    assert not any(dupes.values()), dupes


def _said(stderr: str) -> str:
    return " ".join(stderr.split())[-300:]
