"""Secrets never leak: recognisable fake secrets in the environment, successful and failing runs, then a
search for them in every output the platform makes.

Secrets: the lake's S3 keys, a PostgreSQL password, a REST API token, a webhook URL and an SMTP
password. Runs: a whole `just run` on a loopback S3 lake; a run whose PostgreSQL source is
unreachable; a run whose REST API answers errors; the scheduler's path for the failing job, with
alerts to a real webhook receiver and a real SMTP server. Searched: stdout and stderr of every
process, every file under the data folder (logs, data/meta.db, dlt's working folder, the
warehouse), every object in the lake's buckets, and every alert the receivers got.
"""

from __future__ import annotations

import json
import subprocess
import sys

import botocore.session
import pytest

from tests.reliability import harness
from tests.support import s3server
from tests.support.project import ROOT
from tests.support.receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.slow

SECRETS = {
    "LAKE_S3_ACCESS_KEY_ID": "FAKEACCESSKEY7Q2WX9",
    "LAKE_S3_SECRET_ACCESS_KEY": "fake-lake-secret-Xq81vN",
    "ERP_PG_PASSWORD": "fake-pg-password-Lm42",
    "HELPDESK_TOKEN": "fake-api-token-Zr93",
    "ALERTS_EMAIL_SMTP_PASSWORD": "fake-smtp-password-Sm66",
}
WEBHOOK_SECRET = "fake-webhook-path-Wb55"


def _run(module: str, args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _bucket_objects(server, buckets) -> dict[str, bytes]:
    s3 = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=f"http://{server.endpoint}",
        region_name="us-east-1",
        aws_access_key_id="any",
        aws_secret_access_key="any",
    )
    found = {}
    for bucket in buckets:
        for key in s3server.objects(server, bucket):
            found[f"s3://{bucket}/{key}"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def test_fake_secrets_appear_in_no_output(tmp_path):
    server = s3server.start_moto()
    webhook, smtp = WebhookReceiver(), SmtpReceiver()
    try:
        webhook_url = f"http://127.0.0.1:{webhook.server.server_port}/hooks/{WEBHOOK_SECRET}"
        lake = server.lake_env()
        data = tmp_path / "data"
        base = harness.child_env(data, PLATFORM__DEMO__SCALE="0.02", **{**lake, **SECRETS})
        base.update(
            {
                "PLATFORM__ALERTS__CHANNELS": json.dumps(
                    {
                        "log": {"kind": "log"},
                        "slack": {"kind": "webhook"},
                        "email": {
                            "kind": "email",
                            "smtp_host": "127.0.0.1",
                            "smtp_port": smtp.port,
                            "username": "ops",
                            "to": ["ops@example.com"],
                        },
                    }
                ),
                "ALERTS_SLACK_WEBHOOK_URL": webhook_url,
            }
        )
        erp = {
            "kind": "postgres",
            "host": "127.0.0.1",
            "port": s3server.free_port(),
            "database": "erp",
            "user": "loader",
            "password_env": "ERP_PG_PASSWORD",
            "tables": {"invoices": {}},
        }
        helpdesk = {
            "kind": "rest_api",
            "base_url": f"http://127.0.0.1:{webhook.server.server_port}/api",
            "auth": {"type": "bearer", "token_env": "HELPDESK_TOKEN"},
            "max_attempts": 2,
            "backoff_seconds": 0,
            "endpoints": {"tickets": {"path": "tickets"}},
        }
        outputs = {}
        ok = _run("pipeline.cli", ["run"], base)
        outputs["run (success)"] = ok.stdout + ok.stderr
        assert ok.returncode == 0, ok.stderr[-3000:]

        failing_pg = {**base, "PLATFORM__SOURCES__ERP": json.dumps(erp)}
        bad = _run("pipeline.cli", ["run"], failing_pg)
        outputs["run (postgres unreachable)"] = bad.stdout + bad.stderr
        assert bad.returncode == 1 and "erp" in bad.stderr and "Traceback" not in bad.stderr

        failing_api = {**base, "PLATFORM__SOURCES__HELPDESK": json.dumps(helpdesk)}
        bad = _run("pipeline.cli", ["run"], failing_api)
        outputs["run (api errors)"] = bad.stdout + bad.stderr
        assert bad.returncode == 1 and "helpdesk" in bad.stderr and "Traceback" not in bad.stderr

        jobs = json.dumps({"ingest:shop": {"enabled": False}, "ingest:erp": {"retries": 0}})
        trigger = _run("scheduler.cli", ["trigger", "ingest:erp"], {**failing_pg, "PLATFORM__JOBS__DEFINE": jobs})
        outputs["trigger (failing job, alerts)"] = trigger.stdout + trigger.stderr
        assert trigger.returncode == 1
        assert webhook.received, "the failing job sent no alert to the webhook"
        connections = _run("scheduler.cli", ["connections"], failing_pg)
        outputs["connections"] = connections.stdout + connections.stderr

        for name, text in outputs.items():
            outputs_leaks = [k for k, v in {**SECRETS, "webhook": WEBHOOK_SECRET}.items() if v in text]
            assert not outputs_leaks, f"{name} printed {outputs_leaks}:\n{text[-2000:]}"
        alerts = [json.dumps(m) for m in webhook.received] + [m["data"] for m in smtp.messages]
        files = {str(p): p.read_bytes() for p in data.rglob("*") if p.is_file()}
        objects = _bucket_objects(server, [lake[f"PLATFORM__LAKE__S3__BUCKETS__{layer}"] for layer in ("RAW", "STAGING", "CURATED")])
        assert any("/marts/" in key for key in objects) and any(k.endswith("meta.db") for k in files)
        leaks = []
        for name, value in {**SECRETS, "webhook URL": WEBHOOK_SECRET}.items():
            needle = value.encode()
            leaks += [f"{name} in {where}" for where, blob in {**files, **objects}.items() if needle in blob]
            leaks += [f"{name} in an alert" for text in alerts if value in text]
        assert not leaks, leaks
        harness.tally(
            "secrets",
            secrets=len(SECRETS) + 1,
            runs=5,
            files=len(files),
            objects=len(objects),
            alerts=len(alerts),
            outputs=len(outputs),
            leaks=len(leaks),
        )
    finally:
        webhook.close()
        smtp.close()
        server.stop()
