"""`just connections` and the monitor's storage health on the S3 backend, and the alert channels' secrets."""

from __future__ import annotations

import json
import os

import pytest

from core.buckets import client, ensure_buckets
from core.errors import PlatformError
from core.lake import Lake
from scheduler import alerts, cli, connections
from scheduler.cli import main
from scheduler.monitor import run_checks, storage_health
from tests.support import s3server
from tests.support.project import ROOT, settings_for
from tests.support.receivers import WebhookReceiver


@pytest.fixture(scope="module")
def moto():
    server = s3server.start_moto()
    yield server
    server.stop()


def _by_name(found: list[connections.Connection]) -> dict[str, connections.Connection]:
    return {c.name: c for c in found}


def test_connections_and_storage_health_see_the_s3_store(tmp_path, moto, monkeypatch, capsys):
    env = moto.lake_env()
    settings = settings_for(tmp_path / "data", **env)
    lake = Lake(settings)
    ensure_buckets(lake)
    lake.fs.pipe_file(lake.url("raw", "shop", "orders", "a.parquet"), b"x" * 1000)
    lake.fs.pipe_file(lake.url("raw", "shop", "orders", "b.parquet"), b"y" * 500)
    lake.fs.pipe_file(lake.url("curated", "marts", "_manifest.json"), b"{}")
    client(lake).delete_bucket(Bucket=env["PLATFORM__LAKE__S3__BUCKETS__STAGING"])  # one layer's bucket is missing

    found = _by_name(connections.check_all(settings))
    assert found["lake"].reachable and found["lake"].endpoint == f"s3:http://{moto.endpoint}"
    assert (
        "keys accepted" in found["lake"].detail
        and "missing buckets: " + env["PLATFORM__LAKE__S3__BUCKETS__STAGING"] in found["lake"].detail
    )
    assert found["lake.raw"].reachable and found["lake.raw"].detail == "2 objects, 0.0 MB"
    assert found["lake.raw"].endpoint == f"s3://{env['PLATFORM__LAKE__S3__BUCKETS__RAW']}"
    assert found["lake.curated"].detail == "1 objects, 0.0 MB"
    assert not found["lake.staging"].reachable and "bucket missing" in found["lake.staging"].detail

    health = {(r.check_name, r.subject): r for r in storage_health(settings)}
    assert health[("lake_reachable", f"http://{moto.endpoint}")].status == "ok"
    assert health[("bucket_present", "raw")].status == "ok" and health[("bucket_present", "staging")].status == "fail"
    assert health[("layer_size", "raw")].value == 1500 and health[("layer_size", "raw")].detail.startswith("2 objects")
    assert health[("layer_size", "curated")].value == 2
    assert health[("free_disk", str(settings.data_dir))].value > 0

    # the command line shows the same, and never a key
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    for name, value in {**env, "PLATFORM__DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli.out, "width", 250)  # a wide terminal: rows are not wrapped
    assert main(["--project", str(ROOT), "connections"]) == 0
    shown = capsys.readouterr()
    assert "lake.raw" in shown.out and "LAKE_S3_ACCESS_KEY_ID" in shown.out
    assert moto.secret_key not in shown.out + shown.err and moto.access_key not in shown.out + shown.err


def test_an_unreachable_endpoint_is_reported_with_its_name(tmp_path, moto):
    port = s3server.free_port()  # nothing listens there
    settings = settings_for(
        tmp_path / "data", **moto.lake_env(PLATFORM__LAKE__S3__ENDPOINT=f"127.0.0.1:{port}", PLATFORM__LAKE__S3__RETRY_SECONDS="30")
    )
    (lake,) = [c for c in connections.check_all(settings) if c.name == "lake"]
    assert not lake.reachable and f"127.0.0.1:{port} is unreachable" in lake.detail
    assert "1 attempt" in lake.detail  # reported at once: health checks do not wait out retry_seconds

    results = run_checks(settings)
    (reachable,) = [r for r in results if r.check_name == "lake_reachable"]
    assert reachable.status == "fail" and f"127.0.0.1:{port} is unreachable" in reachable.detail
    assert "lake_reachable:" + reachable.subject in {a["alert_key"] for a in alerts.open_alerts(settings.meta_path)}


def test_refused_keys_are_reported_without_the_key(tmp_path):
    strict = s3server.start_moto_with_auth()  # knows no keys: every request is refused
    try:
        server = s3server.S3Server(kind="moto", port=strict.port)
        settings = settings_for(tmp_path / "data", **server.lake_env())
        (lake,) = [c for c in connections.check_all(settings) if c.name == "lake"]
        (health,) = [r for r in storage_health(settings) if r.check_name == "lake_reachable"]
    finally:
        strict.terminate()
        strict.wait(timeout=30)
    assert not lake.reachable and "refused the lake's credentials" in lake.detail
    assert health.status == "fail" and "LAKE_S3_ACCESS_KEY_ID" in health.detail
    assert server.secret_key not in lake.detail + health.detail


def test_alert_channels_name_their_secret_variables(tmp_path):
    channels = json.dumps(
        {
            "slack": {"kind": "webhook"},
            "ops_hook": {"kind": "webhook", "url_env": "OPS_HOOK"},
            "mail": {"kind": "email", "username": "ops", "to": ["ops@example.com"]},
        }
    )
    with pytest.raises(
        PlatformError,
        match="Alert channel 'slack' \\(webhook\\) needs its webhook URL in the environment variable ALERTS_SLACK_WEBHOOK_URL",
    ):
        settings_for(tmp_path / "data", PLATFORM__ALERTS__CHANNELS=channels)
    with pytest.raises(
        PlatformError, match="'mail' \\(email\\) needs its SMTP password in the environment variable ALERTS_MAIL_SMTP_PASSWORD"
    ):
        settings_for(tmp_path / "data", PLATFORM__ALERTS__CHANNELS=channels, ALERTS_SLACK_WEBHOOK_URL="http://h/1", OPS_HOOK="http://h/2")
    settings = settings_for(
        tmp_path / "data",
        PLATFORM__ALERTS__CHANNELS=channels,
        ALERTS_SLACK_WEBHOOK_URL="http://h/tok-aa1",
        OPS_HOOK="http://h/tok-aa2",
        ALERTS_MAIL_SMTP_PASSWORD="tok-aa3",
    )
    assert settings.secret("OPS_HOOK") == "http://h/tok-aa2" and settings.secret("ALERTS_MAIL_SMTP_PASSWORD") == "tok-aa3"
    assert "tok-aa" not in repr(settings) and "tok-aa" not in settings.model_dump_json()

    # the old per-channel override is gone: it is refused as an unknown key, naming the variable
    with pytest.raises(
        PlatformError, match="alerts.channels.slack.url \\(from environment variable PLATFORM__ALERTS__CHANNELS__SLACK__URL\\): unknown key"
    ):
        settings_for(
            tmp_path / "data", PLATFORM__ALERTS__CHANNELS__SLACK__KIND="webhook", PLATFORM__ALERTS__CHANNELS__SLACK__URL="http://h/x"
        )
    with pytest.raises(PlatformError, match="url_env is for webhook channels, not email"):
        settings_for(tmp_path / "data", PLATFORM__ALERTS__CHANNELS=json.dumps({"mail": {"kind": "email", "url_env": "X"}}))


@pytest.mark.slow
def test_a_job_process_gets_the_alert_secrets(tmp_path):
    """The monitor job runs in a worker process and alerts from there: the webhook URL must reach it unmasked."""
    from scheduler.jobs import job_specs
    from scheduler.runner import Runner

    webhook = WebhookReceiver()
    try:
        settings = settings_for(
            tmp_path / "data",
            PLATFORM__JOBS__DEFINE=json.dumps({"ingest:shop": {"enabled": False}, "monitor": {"task": "monitor", "every_seconds": 3600}}),
            PLATFORM__ALERTS__CHANNELS=json.dumps({"slack": {"kind": "webhook"}}),
            ALERTS_SLACK_WEBHOOK_URL=webhook.url,
        )
        assert Runner(settings, job_specs(settings)).run("monitor", "manual") == "success"
    finally:
        webhook.close()
    assert "[ERROR] source_freshness of shop: never loaded" in webhook.texts("source_freshness:shop")


def test_connections_check_every_source_kind(tmp_path):
    from tests.support.sources import settings_with_sources

    api = WebhookReceiver()  # something listening on loopback
    closed = s3server.free_port()
    try:
        sources = {
            "erp": {
                "kind": "postgres",
                "host": "127.0.0.1",
                "port": closed,
                "database": "erp",
                "user": "loader",
                "password_env": "ERP_PW",
                "tables": {"invoices": {}},
            },
            "helpdesk": {
                "kind": "rest_api",
                "base_url": api.url.rsplit("/hooks", 1)[0] + "/api?key=tok-bb1",
                "endpoints": {"tickets": {"path": "tickets"}},
            },
            "drops": {"kind": "files", "tables": {"refunds": {"pattern": "*.csv"}}},
        }
        settings = settings_with_sources(tmp_path, sources, ERP_PW="tok-bb2")
        found = _by_name(connections.check_all(settings))
    finally:
        api.close()
    assert not found["erp"].reachable and found["erp"].endpoint == f"postgres://loader:***@127.0.0.1:{closed}/erp"
    assert found["helpdesk"].reachable and found["helpdesk"].endpoint.endswith("/***")
    assert not found["drops"].reachable and found["drops"].detail == "landing folder not created yet"
    assert "tok-bb" not in repr(found)
