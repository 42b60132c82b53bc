"""Real S3 servers on loopback for the lake's tests: moto's server (always) and MinIO (when on PATH).

moto runs in this process (its buckets live in memory and survive a stop and a
restart on the same port, which is how a test stops the store mid-load).
MinIO, when a `minio` binary is on PATH, runs as a child process on a temporary
folder. Each test uses its own bucket names, so one server serves the session.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

ACCESS_KEY = "duckstack-test-key"
SECRET_KEY = "duckstack-test-secret-Zq8vX2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class S3Server:
    """An S3 endpoint on loopback and the keys it accepts."""

    kind: str
    port: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def lake_env(self, **overrides: str) -> dict[str, str]:
        """Settings overrides that put the lake on this server, in buckets of its own."""
        token = uuid.uuid4().hex[:8]
        env = {
            "PLATFORM__LAKE__BACKEND": "s3",
            "PLATFORM__LAKE__S3__ENDPOINT": self.endpoint,
            "PLATFORM__LAKE__S3__BUCKETS__RAW": f"raw-{token}",
            "PLATFORM__LAKE__S3__BUCKETS__STAGING": f"staging-{token}",
            "PLATFORM__LAKE__S3__BUCKETS__CURATED": f"curated-{token}",
            "PLATFORM__LAKE__S3__RETRY_SECONDS": "5",
            "LAKE_S3_ACCESS_KEY_ID": self.access_key,
            "LAKE_S3_SECRET_ACCESS_KEY": self.secret_key,
        }
        return {**env, **overrides}


@dataclass
class MotoServer(S3Server):
    """moto's S3 in this process, behind a switch that stops the server when a chosen request arrives."""

    stop_when: Callable[[str, str], bool] | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.stopped.clear()
        self._moto = DomainDispatcherApplication(create_backend_app)  # moto's buckets are global: they outlive a restart
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if not self.stopped.is_set() and self.stop_when is not None and self.stop_when(method, path):
            self.stop_when = None
            self.stopped.set()
            threading.Thread(target=self.stop, daemon=True).start()
        if self.stopped.is_set():
            # The server is going away: refuse what is still in flight on open connections.
            start_response("503 Service Unavailable", [("Connection", "close"), ("Content-Length", "0")])
            return [b""]
        return self._moto(environ, start_response)


def start_moto(port: int | None = None) -> MotoServer:
    return MotoServer(kind="moto", port=port or free_port()).start()


def start_moto_with_auth() -> subprocess.Popen:
    """moto's server in a child process that checks every request's keys (it knows none, so all are refused)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process.port = port  # type: ignore[attr-defined]
    wait_until_listening(port)
    return process


def minio_binary() -> str | None:
    return shutil.which("minio")


class MinioServer(S3Server):
    """A real MinIO server in a child process, on a temporary data folder."""

    def start(self) -> MinioServer:
        self._dir = tempfile.mkdtemp(prefix="minio-test-")
        env = {**os.environ, "MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key}
        console = free_port()
        self._process = subprocess.Popen(
            [minio_binary(), "server", self._dir, "--address", self.endpoint, "--console-address", f"127.0.0.1:{console}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.endpoint}/minio/health/ready", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("MinIO did not become ready in 30 s")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        shutil.rmtree(self._dir, ignore_errors=True)


def server_kinds() -> list[str]:
    """moto always; MinIO too when its binary is on PATH."""
    return ["moto"] + (["minio"] if minio_binary() else [])


def start(kind: str) -> S3Server:
    if kind == "moto":
        return start_moto()
    return MinioServer(kind="minio", port=free_port()).start()


def objects(server: S3Server, bucket: str) -> list[str]:
    """Every key in a bucket, listed straight from the server."""
    import botocore.session

    s3 = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=f"http://{server.endpoint}",
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def all_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]
