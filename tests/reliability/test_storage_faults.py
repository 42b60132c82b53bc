"""The lake's S3 store misbehaves: latency and dropped connections through a TCP proxy, connections cut
mid-upload, and the server stopped mid-load. Each failing run ends with bounded retries and one clear
message naming the endpoint (no traceback, no secret); after recovery a run completes, and raw,
staging and the marts hold every row once.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from demo.day import advance_day
from tests.reliability import harness
from tests.reliability.tcp_proxy import FaultyProxy
from tests.support import s3server
from tests.support.project import ROOT, settings_for
from tests.support.reconcile import assert_marts_match_source

pytestmark = pytest.mark.slow


def _run(settings, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=harness.child_env(settings.data_dir, **env),
    )


def _assert_clear_failure(result, endpoint: str) -> None:
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert endpoint in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    assert s3server.SECRET_KEY not in result.stdout + result.stderr


def _assert_whole(settings) -> harness.RawCheck:
    raw = harness.check_raw_matches_source(settings)
    assert (raw.missing, raw.duplicates, raw.stale) == (0, 0, 0), raw
    dupes = harness.staging_duplicate_keys(settings)
    assert not any(dupes.values()), dupes
    assert_marts_match_source(settings)
    return raw


def test_store_faults_end_clearly_and_a_rerun_recovers(tmp_path):
    random_ = harness.rng("storage_faults")
    server = s3server.start_moto()
    proxy = FaultyProxy(server.port, seed=random_.randrange(1 << 30))
    try:
        env = server.lake_env(PLATFORM__LAKE__S3__ENDPOINT=proxy.endpoint, PLATFORM__LAKE__S3__RETRY_SECONDS="3")
        settings = settings_for(tmp_path / "data", **env)
        endpoint = f"http://{proxy.endpoint}"
        faults = 0

        # 1. a slow, flaky store: 20 ms per chunk, a fifth of the connections refused
        proxy.latency, proxy.drop_rate = 0.02, 0.2
        flaky = _run(settings, env)
        if flaky.returncode != 0:
            _assert_clear_failure(flaky, endpoint)
        faults += proxy.dropped

        # 2. every upload cut after 4 KB: the load fails, clearly
        advance_day(settings.source_path("shop"), seed=7)
        proxy.latency, proxy.drop_rate, proxy.drop_after_bytes = 0.0, 0.0, 4096
        dropped = proxy.dropped
        cut = _run(settings, env)
        _assert_clear_failure(cut, endpoint)
        assert proxy.dropped > dropped
        faults += proxy.dropped - dropped

        # 3. the store recovers: one run completes what was cut, nothing twice
        proxy.drop_after_bytes = None
        healed = _run(settings, env)
        assert healed.returncode == 0, healed.stderr[-3000:]
        _assert_whole(settings)

        # 4. the server stops mid-load (at the first data file PUT), then comes back
        advance_day(settings.source_path("shop"), seed=8)
        server.stop_when = lambda method, path: method == "PUT" and "/shop/orders/" in path and path.endswith(".parquet")
        stopped = _run(settings, env)
        assert server.stopped.is_set()
        _assert_clear_failure(stopped, endpoint)
        faults += 1
        server = s3server.start_moto(server.port)
        again = _run(settings, env)
        assert again.returncode == 0, again.stderr[-3000:]
        raw = _assert_whole(settings)
        harness.tally(
            "storage_faults",
            faults=faults,
            connections=proxy.connections,
            failing_runs=2 + (flaky.returncode != 0),
            rows_lost=raw.missing,
            duplicates=raw.duplicates,
        )
    finally:
        proxy.close()
        server.stop()
