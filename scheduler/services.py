"""The long-lived services behind `just start/stop/restart`: pid files under data/run, logs under data/logs.

The scheduler always; the Streamlit app once app/streamlit_app.py exists; the data API
once API keys are configured; a local MinIO only when a `minio` binary is on PATH.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import PlatformError
from core.settings import Settings
from pipeline import lake_admin
from scheduler.service import running_scheduler

HEALTH_WAIT_SECONDS = 60


@dataclass
class ServiceDef:
    name: str
    command: list[str] | None  # None: not available here, see `why`
    healthy: Callable[[int], bool]
    why: str = ""
    environment: Callable[[], dict[str, str]] | None = None  # its environment, made when it is launched


def definitions(settings: Settings) -> list[ServiceDef]:
    project, data = settings.project_dir, settings.data_dir
    app = project / "app" / "streamlit_app.py"
    services = [
        ServiceDef(
            "scheduler",
            [sys.executable, "-m", "scheduler.cli", "--project", str(project), "serve"],
            lambda pid: (running_scheduler(data) or {}).get("pid") == pid,
        )
    ]
    if not app.exists():
        services.append(ServiceDef("app", None, _never, f"{app.relative_to(project)} does not exist yet"))
    elif importlib.util.find_spec("streamlit") is None:
        services.append(ServiceDef("app", None, _never, "streamlit is not installed"))
    else:
        # The same entry point as `just app`: it binds to app.address only when logins are configured.
        command = [sys.executable, "-m", "app.cli", "--project", str(project), "serve"]
        bound = settings.app.address if settings.app.users and settings.app.address not in ("0.0.0.0", "::") else "127.0.0.1"
        health = f"http://{bound}:{settings.app.port}/_stcore/health"
        services.append(ServiceDef("app", command, lambda pid: _http_ok(health)))
    if not settings.api.keys:
        services.append(ServiceDef("api", None, _never, "no API keys under api.keys (see docs/api.md)"))
    else:
        api_host = settings.api.address if settings.api.address not in ("0.0.0.0", "::") else "127.0.0.1"
        services.append(
            ServiceDef(
                "api",
                [sys.executable, "-m", "api.cli", "--project", str(project), "serve"],
                lambda pid: _http_ok(f"http://{api_host}:{settings.api.port}/openapi.json"),
            )
        )
    minio = shutil.which("minio")
    if minio is None:
        services.append(ServiceDef("minio", None, _never, "no `minio` binary on PATH"))
    else:
        # as `just minio`: loopback only, the lake's keys as its root login (generated into .env at launch)
        health = f"http://{lake_admin.minio_address(settings)}/minio/health/live"
        command = lake_admin.minio_command(settings, minio)
        services.append(
            ServiceDef("minio", command, lambda pid: _http_ok(health), environment=lambda: lake_admin.minio_environment(settings))
        )
    return services


def pid_file(settings: Settings, name: str) -> Path:
    return settings.data_dir / "run" / f"{name}.pid"


def output_file(settings: Settings, name: str) -> Path:
    return settings.data_dir / "logs" / f"{name}.out"


def running_pid(settings: Settings, name: str) -> int | None:
    """The service's pid from its pid file, if that process is still alive."""
    path = pid_file(settings, name)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        path.unlink(missing_ok=True)
        return None
    return pid


def start(settings: Settings, report: Callable[[str], None]) -> None:
    """Start every available service in the background and wait until each is healthy."""
    for service in definitions(settings):
        if service.command is None:
            report(f"{service.name}: not started ({service.why})")
            continue
        pid = running_pid(settings, service.name)
        if pid is not None:
            report(f"{service.name}: already running (pid {pid})")
            continue
        if service.name == "scheduler" and (holder := running_scheduler(settings.data_dir)):
            raise PlatformError(
                f"A scheduler not started by `just start` runs on {settings.data_dir} (pid {holder.get('pid')}); stop it first."
            )
        report(f"{service.name}: {_launch(settings, service)}")


def _launch(settings: Settings, service: ServiceDef) -> str:
    assert service.command is not None, "start() skips the services that are unavailable"
    out_path = output_file(settings, service.name)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file(settings, service.name).parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "a") as out:
        process = subprocess.Popen(
            service.command,
            cwd=settings.project_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=service.environment() if service.environment else None,
        )
    pid_file(settings, service.name).write_text(str(process.pid))
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file(settings, service.name).unlink(missing_ok=True)
            tail = out_path.read_text().strip().splitlines()[-5:]
            raise PlatformError(f"{service.name} exited at start (code {process.returncode}):\n  " + "\n  ".join(tail))
        if service.healthy(process.pid):
            return f"started (pid {process.pid}), healthy; output in {out_path}"
        time.sleep(0.3)
    return f"started (pid {process.pid}) but not healthy after {HEALTH_WAIT_SECONDS} s; see {out_path}"


def stop(settings: Settings, report: Callable[[str], None]) -> None:
    """SIGTERM each running service, wait (the scheduler gives its running job a grace period), then SIGKILL."""
    wait = settings.jobs.shutdown_grace_seconds + 15
    for service in reversed(definitions(settings)):
        pid = running_pid(settings, service.name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            report(f"{service.name}: killed (pid {pid}) after {wait:g} s")
        else:
            report(f"{service.name}: stopped (pid {pid})")
        pid_file(settings, service.name).unlink(missing_ok=True)


def status(settings: Settings) -> list[dict]:
    rows = []
    for service in definitions(settings):
        pid = running_pid(settings, service.name)
        if service.name == "scheduler" and pid is None and (holder := running_scheduler(settings.data_dir)):
            pid = holder.get("pid")  # e.g. a `just serve` in a terminal
        state = "running" if pid else ("unavailable: " + service.why if service.command is None else "stopped")
        healthy = service.healthy(pid) if pid else False
        rows.append({"service": service.name, "state": state, "pid": pid, "healthy": healthy})
    return rows


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _never(pid: int) -> bool:
    return False
