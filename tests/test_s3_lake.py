"""The lake on S3: the whole run against a real S3 server on loopback, and its failures.

Every test runs against moto's S3 server; when a `minio` binary is on PATH, the
server-parametrized ones also run against a MinIO server they start.
"""

from __future__ import annotations

import contextlib

import pytest

from core import warehouse
from core.buckets import ensure_buckets, missing_buckets
from core.errors import PlatformError
from core.lake import Lake
from core.run_context import open_run
from demo.day import advance_day
from demo.shop import generate
from ingest.pipeline import ingest_source
from pipeline import cli, lake_admin
from pipeline.run import run_all
from publish.marts import marts_folder, publish_marts
from publish.reader import connect_published, current_version
from publish.staging import current_staging
from publish.versions import read_sql
from tests.support import s3server
from tests.support.project import ROOT, settings_for, source_rows
from tests.support.reconcile import assert_marts_match_source
from transform.lineage import personal_columns
from transform.raw_views import create_raw_views

MARTS = ("fct_orders", "dim_customers", "daily_revenue")


@pytest.fixture(scope="module", params=s3server.server_kinds())
def server(request):
    server = s3server.start(request.param)
    yield server
    server.stop()


def _published(settings) -> dict[str, list[tuple]]:
    # unmasked: the two data folders hash personal values with salts of their own
    con, _ = connect_published(settings, role="operator")
    with con:
        return {name: sorted(con.execute(f"SELECT * FROM marts.{name}").fetchall()) for name in MARTS}


@pytest.mark.slow
def test_run_on_s3_builds_the_same_marts_as_the_local_lake(server, built, tmp_path):
    local_settings, local_summary = built
    env = server.lake_env()
    settings = settings_for(tmp_path / "data", **env)
    summary = run_all(settings)

    assert summary.rows_loaded == local_summary.rows_loaded
    assert summary.published_rows == local_summary.published_rows
    assert _published(settings) == _published(local_settings)
    assert_marts_match_source(settings)

    raw = s3server.objects(server, env["PLATFORM__LAKE__S3__BUCKETS__RAW"])
    assert any(key.startswith("shop/orders/") and key.endswith(".parquet") for key in raw)
    assert any(key.startswith("shop/_dlt_loads/") for key in raw)
    staging = s3server.objects(server, env["PLATFORM__LAKE__S3__BUCKETS__STAGING"])
    assert "shop/_manifest.json" in staging
    assert current_staging(open_run(settings), "shop").rows["orders"] == source_rows(settings, "SELECT count(*) FROM orders")[0][0]
    curated = s3server.objects(server, env["PLATFORM__LAKE__S3__BUCKETS__CURATED"])
    version = current_version(settings).version
    assert "marts/_manifest.json" in curated
    months = {key.split("/")[3] for key in curated if key.startswith(f"marts/fct_orders/version={version}/")}
    assert months and all(month.startswith("order_month=") for month in months)
    # nothing of the lake was written locally, and the secret is on no disk
    assert not (settings.lake_root).exists()
    for file in s3server.all_files(settings.data_dir):
        assert server.secret_key.encode() not in file.read_bytes(), file

    assert all(check.ok for check in lake_admin.verify_lake(settings)), lake_admin.verify_lake(settings)
    again = run_all(settings)
    assert again.rows_loaded == {"shop": {}} and again.models_built == []
    assert again.published_version == summary.published_version

    # old versions are pruned from the bucket, the current one stays readable
    for step in range(settings.run.publish_keep_versions):
        _publish_changed_orders(settings, step)
    versions = Lake(settings).subfolders(f"{marts_folder(settings)}/fct_orders")
    assert len(versions) == settings.run.publish_keep_versions
    assert versions[-1].endswith(f"version={current_version(settings).version}")
    # the warehouse's marts again
    publish_marts(open_run(settings), [f"marts.{name}" for name in MARTS], personal=personal_columns(settings))
    assert _published(settings) == _published(local_settings)


def _publish_changed_orders(settings, step: int) -> None:
    """A version of the published marts in which every order costs `step + 1` more: fct_orders is written again."""
    published = current_version(settings)
    with contextlib.closing(Lake(settings).attach(warehouse.connect())) as con:
        con.execute("CREATE SCHEMA marts")
        for name in MARTS:
            changed = f"SELECT * REPLACE (amount_total + {step + 1} AS amount_total) FROM ({read_sql(published, name)})"
            con.execute(f"CREATE TABLE marts.{name} AS {changed if name == 'fct_orders' else read_sql(published, name)}")
        publish_marts(open_run(settings), [f"marts.{name}" for name in MARTS], source=con, personal=personal_columns(settings))


def test_missing_buckets_are_created_once(server, tmp_path):
    settings = settings_for(tmp_path / "data", **server.lake_env())
    lake = Lake(settings)
    wanted = sorted(lake.buckets().values())
    assert sorted(missing_buckets(lake)) == wanted
    problems = [check for check in lake_admin.verify_lake(settings) if not check.ok]
    assert [check.what.split()[1] for check in problems] == list(lake.buckets().values())
    assert all("just minio-buckets" in check.fix for check in problems)
    created = []
    assert sorted(ensure_buckets(lake, on_create=created.append)) == wanted == sorted(created)
    assert ensure_buckets(lake) == []
    assert missing_buckets(lake) == []


def _cli(args: list[str], env: dict[str, str], monkeypatch, capsys) -> tuple[int, str]:
    """The command line in this process (the import cost of a fresh one is not the point here)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["--project", str(ROOT), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_wrong_credentials_name_the_endpoint_and_bucket_but_not_the_secret(tmp_path, monkeypatch, capsys):
    with_auth = s3server.start_moto_with_auth()
    try:
        server = s3server.S3Server(kind="moto", port=with_auth.port, secret_key="wrong-secret-Xy7Qp9")
        env = server.lake_env(PLATFORM__DATA_DIR=str(tmp_path / "data"))
        code, output = _cli(["run"], env, monkeypatch, capsys)
    finally:
        with_auth.terminate()
        with_auth.wait()
    assert code == 1
    assert f"http://{server.endpoint}" in output and env["PLATFORM__LAKE__S3__BUCKETS__RAW"] in output
    assert "refused the lake's credentials" in output and "LAKE_S3_SECRET_ACCESS_KEY" in output
    assert "wrong-secret-Xy7Qp9" not in output and "Traceback" not in output


def test_unreachable_endpoint_is_retried_then_fails_clearly(tmp_path, monkeypatch, capsys):
    port = s3server.free_port()  # nothing listens there
    env = s3server.S3Server(kind="none", port=port).lake_env(
        PLATFORM__DATA_DIR=str(tmp_path / "data"), PLATFORM__LAKE__S3__RETRY_SECONDS="2"
    )
    code, output = _cli(["run"], env, monkeypatch, capsys)
    assert code == 1
    assert f"endpoint http://127.0.0.1:{port} is unreachable" in output
    attempts = int(output.split(" attempts over ")[0].rsplit(" ", 1)[-1])
    assert attempts >= 2
    assert "Traceback" not in output and s3server.SECRET_KEY not in output


@pytest.mark.slow
def test_a_load_stopped_midway_stays_invisible_to_staging(tmp_path):
    """The store goes down as dlt records a load as complete: its data files are there, but no model sees them."""
    server = s3server.start_moto()
    try:
        env = server.lake_env(PLATFORM__DEMO__SCALE="0.01")
        settings = settings_for(tmp_path / "data", **env)
        demo = settings.demo
        generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
        Lake(settings).ensure_layers()
        ingest_source(open_run(settings), "shop")
        before = _raw_counts(settings)
        high_water = source_rows(settings, "SELECT max(updated_at) FROM orders")[0][0]
        advance_day(settings.source_path("shop"), seed=demo.seed)
        changed = source_rows(settings, "SELECT count(*) FROM orders WHERE updated_at > ?", (high_water,))[0][0]

        server.stop_when = lambda method, path: method == "PUT" and "/_dlt_loads/" in path
        with pytest.raises(Exception):  # noqa: B017 - what fails depends on the request the store drops; the data is checked below
            ingest_source(open_run(settings), "shop")
        assert server.stopped.is_set()
        server = s3server.start_moto(server.port)  # the store is back, with what it held

        raw = s3server.objects(server, env["PLATFORM__LAKE__S3__BUCKETS__RAW"])
        load_ids = {key.rsplit("/", 1)[-1].split(".")[0] for key in raw if key.startswith("shop/orders/")}
        assert len(load_ids) == 2, "the stopped load's data files are in the bucket"
        assert _raw_counts(settings) == before, "but the raw views do not show them"

        ingest_source(open_run(settings), "shop")  # the next run finishes the stopped load
        assert _raw_counts(settings)["raw_shop.orders"] == before["raw_shop.orders"] + changed
    finally:
        server.stop()


def _raw_counts(settings) -> dict[str, int]:
    with contextlib.closing(warehouse.connect()) as con:
        views = create_raw_views(con, open_run(settings))
        return {view: con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] for view in views}


def test_missing_keys_fail_at_startup_naming_the_variable(tmp_path):
    env = s3server.S3Server(kind="none", port=9).lake_env(LAKE_S3_SECRET_ACCESS_KEY="")
    with pytest.raises(PlatformError, match="LAKE_S3_SECRET_ACCESS_KEY is not set"):
        settings_for(tmp_path / "data", **env)


def test_bucket_listing_and_sample_upload(server, tmp_path):
    settings = settings_for(tmp_path / "data", **server.lake_env())
    created, before = lake_admin.buckets_with_usage(settings)
    assert sorted(created) == sorted(Lake(settings).buckets().values())
    assert [(b.layer, b.objects, b.bytes) for b in before] == [("raw", 0, 0), ("staging", 0, 0), ("curated", 0, 0)]

    urls = lake_admin.upload_sample(settings, scale=0.01)
    raw_bucket = Lake(settings).buckets()["raw"]
    keys = s3server.objects(server, raw_bucket)
    assert keys == sorted(f"landing/shop/{table}.csv" for table in ("customers", "products", "orders", "order_items", "payments"))
    assert urls == [
        f"s3://{raw_bucket}/{key}"
        for key in (
            "landing/shop/customers.csv",
            "landing/shop/products.csv",
            "landing/shop/orders.csv",
            "landing/shop/order_items.csv",
            "landing/shop/payments.csv",
        )
    ]
    created, after = lake_admin.buckets_with_usage(settings)
    raw = next(b for b in after if b.layer == "raw")
    assert created == [] and raw.objects == 5 and raw.bytes > 0
    con = Lake(settings).attach(warehouse.connect())
    with con:
        orders = con.execute(f"SELECT count(*) FROM read_csv('{urls[2]}')").fetchone()[0]
    assert orders == 1000


def test_minio_and_console_commands_explain_themselves(tmp_path, monkeypatch):
    settings = settings_for(tmp_path / "data", **s3server.S3Server(kind="none", port=9000).lake_env())
    assert lake_admin.console_url(settings) == "http://127.0.0.1:9001"
    monkeypatch.setenv("PATH", str(tmp_path))  # no minio binary there
    with pytest.raises(PlatformError, match="No `minio` binary on PATH"):
        lake_admin.minio_command(settings)
    with pytest.raises(PlatformError, match="backend is local"):
        lake_admin.buckets_with_usage(settings_for(tmp_path / "data"))


def test_s3_settings_are_checked_and_name_the_key(tmp_path):
    base = s3server.S3Server(kind="none", port=9000).lake_env()
    with pytest.raises(PlatformError, match=r"lake\.s3\.buckets\.raw \(from environment variable PLATFORM__LAKE__S3__BUCKETS__RAW\)"):
        settings_for(tmp_path / "data", **{**base, "PLATFORM__LAKE__S3__BUCKETS__RAW": "Raw_Bucket"})
    with pytest.raises(PlatformError, match="says https but use_tls is false"):
        settings_for(tmp_path / "data", **{**base, "PLATFORM__LAKE__S3__ENDPOINT": "https://minio.example:9000"})
    settings = settings_for(tmp_path / "data", **{**base, "PLATFORM__LAKE__S3__PREFIX": "team/dev"})
    lake = Lake(settings)
    assert lake.url("raw", "shop", "orders") == f"s3://{lake.buckets()['raw']}/team/dev/shop/orders"
    assert s3server.SECRET_KEY not in repr(settings) + str(settings.model_dump())
