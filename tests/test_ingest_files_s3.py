"""File drops on the s3 backend: the landing prefix in the raw bucket, each file taken once, quarantine in the bucket."""

from __future__ import annotations

import contextlib
import json

import pytest

from core import warehouse
from core.buckets import client
from core.lake import Lake
from core.run_context import open_run
from ingest.landing import landing_root, processed, ready_files
from ingest.pipeline import ingest_source
from tests.support import s3server
from tests.support.sources import settings_with_sources

HEADER = "id,customer_id,status,ordered_at,updated_at,deleted_at\n"


def _row(i: int) -> str:
    return f"{i},7,placed,2025-03-01 10:00:00,2025-03-02 10:00:00,\n"


@pytest.fixture(scope="module")
def moto():
    server = s3server.start_moto()
    yield server
    server.stop()


def _settings(tmp_path, env: dict, settle_seconds: float):
    declaration = {
        "kind": "files",
        "settle_seconds": settle_seconds,
        "quality": {"max_bad_share": 0.5},
        "tables": {"orders": {"pattern": "orders*", "pandera": "shop__orders"}},
    }
    return settings_with_sources(tmp_path, {"drops": declaration}, **env)


def _query(settings, folder: str, sql: str) -> list[tuple]:
    with contextlib.closing(Lake(settings).attach(warehouse.connect(extensions=("httpfs",)))) as con:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({warehouse.sql_literal(folder + '/*.parquet')}, union_by_name := true)")
        return con.execute(sql).fetchall()


def test_drops_in_the_raw_bucket_are_taken_once_and_bad_rows_quarantined_there(tmp_path, moto):
    env = moto.lake_env()
    settings = _settings(tmp_path, env, settle_seconds=3600)
    lake = Lake(settings)
    lake.ensure_layers()
    root = landing_root(settings, "drops")
    raw_bucket = env["PLATFORM__LAKE__S3__BUCKETS__RAW"]
    assert root == f"s3://{raw_bucket}/landing/drops"

    lake.fs.pipe_file(f"{root}/orders-1.csv", (HEADER + _row(1) + _row(2) + "3,7,placed\n").encode())  # one ragged row
    assert ingest_source(open_run(settings), "drops").total_rows == 0  # too fresh: written less than settle_seconds ago
    assert processed(settings.meta_path, "drops") == set()

    settings = _settings(tmp_path, env, settle_seconds=0)
    lake.fs.pipe_file(
        f"{root}/orders-2.jsonl",
        json.dumps(
            {"id": 4, "customer_id": 3, "status": "paid", "ordered_at": "2025-03-01T10:00:00", "updated_at": "2025-03-02T10:00:00"}
        ).encode(),
    )
    lake.fs.pipe_file(f"{root}/orders-3.csv.part", (HEADER + _row(30)).encode())  # still being renamed into place
    s3 = client(lake)
    upload = s3.create_multipart_upload(Bucket=raw_bucket, Key="landing/drops/orders-5.csv")  # still being uploaded
    part = s3.upload_part(
        Bucket=raw_bucket, Key="landing/drops/orders-5.csv", PartNumber=1, UploadId=upload["UploadId"], Body=(HEADER + _row(5)).encode()
    )
    assert [f.relative for f in ready_files(settings, "drops")] == ["orders-1.csv", "orders-2.jsonl"]

    first = ingest_source(open_run(settings), "drops")
    assert first.rows == {"orders": 3} and first.quarantined == {"orders": 1}
    assert {path for path, _ in processed(settings.meta_path, "drops")} == {"orders-1.csv", "orders-2.jsonl"}
    assert _query(settings, lake.url("raw", "drops", "orders"), "SELECT id FROM t ORDER BY id") == [(1,), (2,), (4,)]
    quarantined = _query(settings, lake.url("raw", "drops", "_quarantine", "orders"), "SELECT _check, _failure, _source_file FROM t")
    assert quarantined == [("csv", "expected 6 columns, got 3", "orders-1.csv")]
    assert not (settings.lake_root).exists()  # nothing of the lake was written locally

    assert ingest_source(open_run(settings), "drops").total_rows == 0  # each file once
    s3.complete_multipart_upload(
        Bucket=raw_bucket,
        Key="landing/drops/orders-5.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert ingest_source(open_run(settings), "drops").rows == {"orders": 1}
    assert ingest_source(open_run(settings), "drops").total_rows == 0
    assert _query(settings, lake.url("raw", "drops", "orders"), "SELECT id FROM t ORDER BY id") == [(1,), (2,), (4,), (5,)]

    # the same name written again (new content) is a new file
    lake.fs.pipe_file(
        f"{root}/orders-2.jsonl",
        json.dumps(
            {"id": 6, "customer_id": 3, "status": "paid", "ordered_at": "2025-03-01T10:00:00", "updated_at": "2025-03-02T10:00:00"}
        ).encode(),
    )
    assert ingest_source(open_run(settings), "drops").rows == {"orders": 1}
    assert len(processed(settings.meta_path, "drops")) == 4


def test_a_file_larger_than_memory_in_the_bucket_loads_in_parts_its_earlier_rows_quarantined_there(tmp_path, moto):
    env = moto.lake_env()
    declaration = {
        "kind": "files",
        "settle_seconds": 0,
        "max_file_memory_mb": 1,  # the file below is read in parts of about 100 KB
        "quality": {"max_bad_share": 0.9},
        "tables": {"events": {"pattern": "events*", "primary_key": "id"}},
    }
    settings = settings_with_sources(tmp_path, {"drops": declaration}, **env)
    lake = Lake(settings)
    lake.ensure_layers()
    keys, rows = 10_000, 40_000  # each key four times: its last row loads, the three earlier ones are quarantined
    body = "id,v\n" + "".join(f"{i % keys},value-{i}\n" for i in range(rows))
    lake.fs.pipe_file(f"{landing_root(settings, 'drops')}/events-1.csv", body.encode())

    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"events": keys} and result.quarantined == {"events": rows - keys}
    loaded = _query(settings, lake.url("raw", "drops", "events"), "SELECT min(v[7:]::INT), max(v[7:]::INT), count(DISTINCT id) FROM t")
    assert loaded == [(rows - keys, rows - 1, keys)]
    aside = _query(
        settings,
        lake.url("raw", "drops", "_quarantine", "events"),
        "SELECT _check, count(*), count(DISTINCT v), min(v[7:]::INT), max(v[7:]::INT), min(_line), max(_line) FROM t GROUP BY 1",
    )
    assert aside == [("duplicate_key", rows - keys, rows - keys, 0, rows - keys - 1, 2, rows - keys + 1)]
    assert not settings.lake_root.exists()  # nothing of the lake was written locally
    assert not any((settings.data_dir / "run" / "parts").rglob("*.*")), "nothing held or spilled is left"
