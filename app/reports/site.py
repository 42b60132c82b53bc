"""Build or serve the Evidence reports: pinned Node install, fresh snapshot, checked queries, then Evidence.

Every Node step runs in its own process group under a time limit from
`reports.*_timeout_seconds`: a step that hangs (for example on a download that
this machine cannot make) is stopped, and the error says which step, after how
long, and the likely cause. Nothing here opens the warehouse.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.reports import metric_sources
from app.reports.queries import PROJECT, Checked, validate
from core.errors import PlatformError
from core.settings import Settings
from publish.snapshot import SnapshotResult, write_snapshot

SOURCES = ("marts", "metrics", "quality")  # sources/<name>/connection.yaml, each reading the snapshot
BUILD_DIR = PROJECT / "build"
# Why a Node step can stall on an offline machine: npm waits on its registry; DuckDB-Wasm
# (inside Evidence) waits forever on an extension download that fails.
STALL_HINT = {
    "npm ci": "npm could not finish installing from the registry (is the npm registry reachable?)",
    "evidence sources": "Evidence's DuckDB-Wasm may be waiting for an extension download "
    "(extensions.duckdb.org), which this machine cannot reach",
    "evidence build": "Evidence's DuckDB-Wasm may be waiting for an extension download "
    "(extensions.duckdb.org), which this machine cannot reach, or the machine is too busy",
}

Say = Callable[[str], None]


@dataclass
class BuildResult:
    snapshot: SnapshotResult
    checked: list[Checked]
    site: Path
    seconds: dict[str, float]


def build_site(settings: Settings, say: Say = print) -> BuildResult:
    """`just reports`: install from the lockfile, refresh the snapshot and sources, check every query, build."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    install(settings, say)
    seconds["install"] = time.perf_counter() - started
    snapshot, checked = prepare(settings, say)
    seconds["snapshot and checks"] = time.perf_counter() - started - sum(seconds.values())
    evidence(settings, "sources", settings.reports.sources_timeout_seconds, say)
    seconds["evidence sources"] = time.perf_counter() - started - sum(seconds.values())
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    evidence(settings, "build", settings.reports.build_timeout_seconds, say)
    seconds["evidence build"] = time.perf_counter() - started - sum(seconds.values())
    if not (BUILD_DIR / "index.html").is_file():
        raise PlatformError(f"`evidence build` ended without writing {BUILD_DIR / 'index.html'}.")
    return BuildResult(snapshot=snapshot, checked=checked, site=BUILD_DIR, seconds=seconds)


def serve_dev(settings: Settings, args: list[str], say: Say = print) -> None:
    """`just reports-dev`: like `just reports` up to the sources, then Evidence's dev server (live reload)."""
    install(settings, say)
    prepare(settings, say)
    evidence(settings, "sources", settings.reports.sources_timeout_seconds, say)
    say("Starting Evidence's dev server (Ctrl-C stops it)")
    _run(settings, [str(_bin("evidence")), "dev", *args], step="evidence dev", timeout=None)


def prepare(settings: Settings, say: Say = print) -> tuple[SnapshotResult, list[Checked]]:
    """Check the generated metric sources, write the snapshot of the published marts, then run every report query against it."""
    metric_sources.check()
    snapshot = write_snapshot(settings)
    missing = f"; nothing recorded yet in: {', '.join(snapshot.missing)}" if snapshot.missing else ""
    say(f"Snapshot of published version {snapshot.version} at {snapshot.path}{missing}")
    checked = validate(snapshot.path)
    say(f"Checked {len(checked)} report queries against it")
    return snapshot, checked


def install(settings: Settings, say: Say = print) -> None:
    """`npm ci` from the committed lockfile, unless node_modules already holds exactly that lockfile."""
    if _installed_matches_lock():
        say("Node dependencies match package-lock.json")
        return
    if shutil.which("npm") is None:
        raise PlatformError("npm is not on PATH: the reports need Node.js 20 and npm (Debian: apt-get install nodejs npm).")
    say("Installing the pinned Node dependencies (npm ci)")
    _run(settings, ["npm", "ci", "--no-audit", "--no-fund"], step="npm ci", timeout=settings.reports.install_timeout_seconds)


def evidence(settings: Settings, command: str, timeout: float, say: Say = print) -> None:
    if not _bin("evidence").exists():
        raise PlatformError(f"Evidence is not installed in {PROJECT / 'node_modules'}: run `just reports` to install it.")
    say(f"evidence {command} (at most {timeout:.0f} s)")
    _run(settings, [str(_bin("evidence")), command], step=f"evidence {command}", timeout=timeout)


def evidence_env(settings: Settings) -> dict[str, str]:
    """The environment Evidence runs in: each source pointed at the snapshot, no usage statistics sent."""
    env = dict(os.environ)
    snapshot = settings.data_dir / settings.reports.snapshot
    for source in SOURCES:
        # Evidence's DuckDB connector joins the filename to the source's folder.
        env[f"EVIDENCE_SOURCE__{source}__filename"] = os.path.relpath(snapshot, PROJECT / "sources" / source)
    env["SEND_ANONYMOUS_USAGE_STATS"] = "no"
    return env


def _run(settings: Settings, argv: list[str], *, step: str, timeout: float | None) -> None:
    process = subprocess.Popen(argv, cwd=PROJECT, env=evidence_env(settings), start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        hint = STALL_HINT.get(step, "it stalled")
        raise PlatformError(
            f"`{step}` did not finish within {timeout:.0f} s and was stopped: {hint}. "
            f"Raise reports.{_timeout_key(step)} (PLATFORM__REPORTS__{_timeout_key(step).upper()}) if the machine is only slow."
        ) from None
    except KeyboardInterrupt:
        _stop(process)
        raise
    if code != 0:
        raise PlatformError(f"`{step}` failed with exit code {code}; its output is above.")


def _stop(process: subprocess.Popen) -> None:
    """Stop the step's whole process group (npm and Evidence start children of their own)."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _timeout_key(step: str) -> str:
    return {"npm ci": "install_timeout_seconds", "evidence sources": "sources_timeout_seconds"}.get(step, "build_timeout_seconds")


def _bin(name: str) -> Path:
    return PROJECT / "node_modules" / ".bin" / name


def _installed_matches_lock() -> bool:
    """npm keeps a copy of what it installed in node_modules/.package-lock.json; compare its packages."""
    installed, lock = PROJECT / "node_modules" / ".package-lock.json", PROJECT / "package-lock.json"
    if not installed.is_file():
        return False
    try:
        wanted = {k: v for k, v in json.loads(lock.read_text())["packages"].items() if k}
        have = json.loads(installed.read_text())["packages"]
    except (json.JSONDecodeError, KeyError, OSError):
        return False
    for path, entry in wanted.items():
        if entry.get("optional") and path not in have:
            continue  # another platform's native binary
        if have.get(path, {}).get("version") != entry.get("version"):
            return False
    return True
