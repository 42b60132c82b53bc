"""`just start` and `just minio` hand MinIO generated root keys (kept in `.env`, owner-only) and loopback addresses.

No MinIO server installs here, so a stand-in `minio` on PATH records the command line and
environment it is given (what a real binary would get) and answers MinIO's health check.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from core.settings import load_settings
from scheduler import services
from tests.support.project import ROOT, copy_project

FAKE_MINIO = """#!{python}
import http.server, json, os, sys
args = sys.argv[1:]
env = {{k: v for k, v in os.environ.items() if k.startswith("MINIO_")}}
with open({record!r}, "w") as handle:
    json.dump({{"args": args, "env": env}}, handle)
if os.environ.get("FAKE_MINIO_SERVE"):
    host, port = args[args.index("--address") + 1].rsplit(":", 1)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/minio/health/live" else 404)
            self.end_headers()
        def log_message(self, *a):
            pass
    http.server.HTTPServer((host, int(port)), Health).serve_forever()
"""
KEY_VARIABLES = ("LAKE_S3_ACCESS_KEY_ID", "LAKE_S3_SECRET_ACCESS_KEY")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_minio(tmp_path, monkeypatch):
    """A project copy, a stand-in `minio` first on PATH, no lake keys anywhere; yields (project, record file, ports env)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "minio-call.json"
    bin_dir.mkdir()
    script = bin_dir / "minio"
    script.write_text(FAKE_MINIO.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    project = copy_project(tmp_path / "project")
    ports = {
        "PLATFORM__DATA_DIR": str(tmp_path / "data"),
        "PLATFORM__LAKE__S3__ENDPOINT": f"127.0.0.1:{_free_port()}",
        "PLATFORM__LAKE__S3__CONSOLE_PORT": str(_free_port()),
    }
    return project, record, ports


def _assert_safe_call(record: Path, project: Path, ports: dict) -> dict:
    call = json.loads(record.read_text())
    args, env = call["args"], call["env"]
    assert args[args.index("--address") + 1] == ports["PLATFORM__LAKE__S3__ENDPOINT"]
    assert args[args.index("--console-address") + 1] == f"127.0.0.1:{ports['PLATFORM__LAKE__S3__CONSOLE_PORT']}"
    user, password = env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]
    assert user != "minioadmin" and password not in ("minioadmin", "change-me-please") and len(password) >= 32
    saved = dotenv_values(project / ".env")
    assert (saved["LAKE_S3_ACCESS_KEY_ID"], saved["LAKE_S3_SECRET_ACCESS_KEY"]) == (user, password)  # the lake's clients use them
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    return env


def test_just_start_launches_minio_with_generated_keys_on_loopback(fake_minio, monkeypatch):
    project, record, ports = fake_minio
    monkeypatch.setenv("FAKE_MINIO_SERVE", "1")
    settings = load_settings(project, env=ports)
    (minio,) = [service for service in services.definitions(settings) if service.name == "minio"]
    try:
        assert "healthy" in services._launch(settings, minio)  # how `just start` launches each service
    finally:
        services.stop(settings, lambda line: None)
    _assert_safe_call(record, project, ports)


def _just_minio(project: Path, ports: dict) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({**ports, "PLATFORM__LAKE__BACKEND": "s3"})
    return subprocess.run(
        [sys.executable, "-m", "pipeline.lake_cli", "--project", str(project), "minio"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_just_minio_generates_keys_once_and_refuses_the_well_known_ones(fake_minio):
    project, record, ports = fake_minio
    first = _just_minio(project, ports)
    assert first.returncode == 0, first.stderr
    env = _assert_safe_call(record, project, ports)
    assert env["MINIO_ROOT_PASSWORD"] not in first.stdout + first.stderr
    again = _just_minio(project, ports)
    assert again.returncode == 0, again.stderr
    assert _assert_safe_call(record, project, ports) == env  # the keys in .env are kept

    (project / ".env").write_text("LAKE_S3_ACCESS_KEY_ID=minioadmin\nLAKE_S3_SECRET_ACCESS_KEY=minioadmin\n")
    record.unlink()
    refused = _just_minio(project, ports)
    assert refused.returncode == 1 and "LAKE_S3_SECRET_ACCESS_KEY holds a well-known default" in refused.stderr
    assert not record.exists()  # MinIO was not started
