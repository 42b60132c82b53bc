"""File drops: CSV, JSONL and Parquet each loaded exactly once; bad input quarantined, never a crash."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import runlog
from core.errors import PlatformError
from core.run_context import open_run
from ingest import cli as ingest_cli
from ingest.landing import processed, wait_for_files
from ingest.pipeline import ingest_source
from ingest.quarantine import quarantined_rows
from ingest.replay import replay_file
from scheduler import alerts, monitor
from tests.support.sources import quarantine, raw, settings_with_sources

HEADER = "id,customer_id,status,ordered_at,updated_at,deleted_at\n"


def _row(i: int, status: str = "placed", ordered_at: str = "2025-03-01 10:00:00", customer: str | int = 7) -> str:
    return f"{i},{customer},{status},{ordered_at},2025-03-02 10:00:00,\n"


def _drops(tmp_path, **source):
    declaration = {
        "kind": "files",
        "landing": "landing/drops",  # a local folder, also when the lake is on S3 (tests/reliability/test_bad_data_s3.py)
        "settle_seconds": 0,
        "quality": {"max_bad_share": 0.5},
        "tables": {"orders": {"pattern": "orders*", "pandera": "shop__orders"}},
        **source,
    }
    settings = settings_with_sources(tmp_path, {"drops": declaration})
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True, exist_ok=True)
    return settings, landing


def _ids(settings) -> list[int]:
    return [row[0] for row in raw(settings, "drops", "orders", "SELECT id FROM t ORDER BY id")]


def test_csv_jsonl_and_parquet_are_each_loaded_exactly_once(tmp_path):
    settings, landing = _drops(tmp_path)
    (landing / "orders-1.csv").write_text(HEADER + _row(1) + _row(2) + _row(3))
    (landing / "orders-2.jsonl").write_text(
        "\n".join(
            json.dumps(
                {"id": i, "customer_id": 3, "status": "paid", "ordered_at": "2025-03-01T10:00:00", "updated_at": "2025-03-02T10:00:00"}
            )
            for i in (4, 5)
        )
    )
    stamps = pa.array([dt.datetime(2025, 3, 1, 10), dt.datetime(2025, 3, 1, 11)], pa.timestamp("us"))
    pq.write_table(
        pa.table({"id": [6, 7], "customer_id": [1, 2], "status": ["shipped", "delivered"], "ordered_at": stamps, "updated_at": stamps}),
        landing / "orders-3.parquet",
    )
    first = ingest_source(open_run(settings), "drops")
    assert first.rows == {"orders": 7}
    assert _ids(settings) == [1, 2, 3, 4, 5, 6, 7]
    assert {path for path, _ in processed(settings.meta_path, "drops")} == {"orders-1.csv", "orders-2.jsonl", "orders-3.parquet"}

    again = ingest_source(open_run(settings), "drops")
    assert again.total_rows == 0
    (landing / "orders-4.csv").write_text(HEADER + _row(8))
    third = ingest_source(open_run(settings), "drops")
    assert third.rows == {"orders": 1}
    assert _ids(settings) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_file_still_being_written_is_not_taken(tmp_path):
    settings, landing = _drops(tmp_path, settle_seconds=60)
    fresh = landing / "orders-1.csv"
    fresh.write_text(HEADER + _row(1))
    (landing / "orders-2.csv.tmp").write_text(HEADER + _row(2))
    (landing / ".orders-3.csv").write_text(HEADER + _row(3))
    assert ingest_source(open_run(settings), "drops").total_rows == 0
    assert processed(settings.meta_path, "drops") == set()

    settled = time.time() - 120
    for path in landing.iterdir():
        os.utime(path, (settled, settled))
    assert ingest_source(open_run(settings), "drops").rows == {"orders": 1}
    assert _ids(settings) == [1]


def test_a_file_stamped_ahead_of_the_clock_waits_and_the_ingest_says_why(tmp_path):
    """A writer whose clock is two hours ahead: its file is not taken (whether it is complete cannot be told), and the
    ingest's warnings name the table, the file and the clock instead of loading nothing in silence."""
    settings, landing = _drops(tmp_path, settle_seconds=60)
    (landing / "orders-1.csv").write_text(HEADER + _row(1))
    ahead = landing / "orders-2.csv"
    ahead.write_text(HEADER + _row(2))
    os.utime(landing / "orders-1.csv", (time.time() - 120, time.time() - 120))
    os.utime(ahead, (time.time() + 7_200, time.time() + 7_200))

    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 1} and _ids(settings) == [1]
    [warning] = [w for w in result.warnings if "future" in w]
    assert warning.startswith("drops.orders: 1 file(s) modified up to 120 min in the future (first orders-2.csv)") and "clock" in warning
    monitor.run_checks(settings)  # the scheduler's user hears it too: the monitor warns until the file is taken
    assert [a["alert_key"] for a in alerts.open_alerts(settings.meta_path) if "future" in a["message"]] == ["landed_files_waiting:drops"]

    os.utime(ahead, (time.time() - 120, time.time() - 120))  # its time has come (or the clock was put right)
    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 1} and _ids(settings) == [1, 2]
    assert not [w for w in result.warnings if "future" in w]
    monitor.run_checks(settings)
    assert not [a for a in alerts.open_alerts(settings.meta_path) if a["alert_key"] == "landed_files_waiting:drops"]


def test_a_landed_file_of_no_table_or_of_two_is_named_not_loaded_in_silence(tmp_path):
    """`Orders-2.CSV` from a Windows share is no `orders*` file (patterns are case-sensitive), and `orders_lines-5.csv`
    matches both `orders*` and `orders_lines*`: neither is loaded (into the wrong table, the second would change its
    values), and the ingest and the monitor name them; temporary and hidden names stay unmentioned."""
    lines = {"pattern": "orders_lines*", "primary_key": ["order_id", "line"]}
    settings, landing = _drops(tmp_path, tables={"orders": {"pattern": "orders*", "pandera": "shop__orders"}, "lines": lines})
    (landing / "orders-1.csv").write_text(HEADER + _row(1))
    (landing / "Orders-2.CSV").write_text(HEADER + _row(2))
    (landing / "orders-3.csv.part").write_text(HEADER + _row(3))
    (landing / ".orders-4.csv").write_text(HEADER + _row(4))
    (landing / "orders_lines-5.csv").write_text("order_id,line,qty\n1,1,3\n")

    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 1} and _ids(settings) == [1]
    assert [w for w in result.warnings if "pattern" in w] == [
        "drops: 1 landed file(s) match no table's pattern (first Orders-2.CSV) and are not loaded: "
        "declare their table or fix its pattern (patterns are case-sensitive)",
        "drops: 1 landed file(s) match the patterns of more than one table (first orders_lines-5.csv: lines, orders) "
        "and are not loaded: make the tables' patterns exclusive",
    ]
    monitor.run_checks(settings)
    [alert] = [a for a in alerts.open_alerts(settings.meta_path) if a["alert_key"] == "landed_files_waiting:drops"]
    assert "Orders-2.CSV" in alert["message"] and "orders_lines-5.csv" in alert["message"]

    shutil.rmtree(landing)  # a share that is not mounted: nothing can be loaded, and the ingest says so
    [warning] = [w for w in ingest_source(open_run(settings), "drops").warnings if "landing" in w]
    assert warning.startswith(f"drops: the landing folder {landing} does not exist, so no file can be loaded")


def test_the_sensor_waits_for_new_files_and_times_out(tmp_path):
    settings, landing = _drops(tmp_path)
    started = time.monotonic()
    assert wait_for_files(settings, "drops", timeout_seconds=0.3, poll_seconds=0.05) == []
    assert time.monotonic() - started >= 0.3

    writer = threading.Timer(0.3, lambda: (landing / "orders-9.csv").write_text(HEADER + _row(9)))
    writer.start()
    try:
        found = wait_for_files(settings, "drops", timeout_seconds=30, poll_seconds=0.05)
    finally:
        writer.join()
    assert [f.relative for f in found] == ["orders-9.csv"]
    ingest_source(open_run(settings), "drops")
    assert wait_for_files(settings, "drops", timeout_seconds=0, poll_seconds=0.05) == []


def test_bad_csv_rows_are_quarantined_with_reasons_and_good_rows_load(tmp_path):
    settings, landing = _drops(tmp_path)
    (landing / "orders-0.csv").write_text(HEADER + _row(100))
    ingest_source(open_run(settings), "drops")
    good = [_row(1), _row(2, "paid"), _row(3, "shipped"), _row(4), _row(5), _row(6), _row(7), _row(8), _row(9)]
    bad = [
        "10,7,placed,2025-03-01 10:00:00\n",  # wrong column count
        '11,7,"placed,2025-03-01 10:00:00,2025-03-02 10:00:00,\n',  # unbalanced quote
        ",7,placed,2025-03-01 10:00:00,2025-03-02 10:00:00,\n",  # null primary key
        _row(12, customer="seven"),  # wrong type
        _row(13, ordered_at="9999-01-01 00:00:00"),  # date out of range
        _row(2, "delivered"),  # a later version of a key within the file: it wins
        _row(14, status="lost"),  # not an allowed value
    ]
    body = HEADER + "".join(good[:3] + bad[:2] + good[3:6] + bad[2:] + good[6:])
    (landing / "orders-1.csv").write_bytes(body.encode() + b"15,7,caf\xe9,2025-03-01 10:00:00,2025-03-02 10:00:00,\n")

    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 9}
    assert result.quarantined == {"orders": 8}
    assert _ids(settings) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
    assert raw(settings, "drops", "orders", "SELECT status FROM t WHERE id = 2") == [("delivered",)]  # the last of a duplicate wins
    reasons = dict(quarantine(settings, "drops", "orders", "SELECT coalesce(id, _raw), _check || ' on ' || coalesce(_column, '-') FROM q"))
    assert reasons["10,7,placed,2025-03-01 10:00:00"] == "csv on -"
    assert reasons['11,7,"placed,2025-03-01 10:00:00,2025-03-02 10:00:00,'] == "csv on -"
    assert reasons["12"].startswith("coerce_dtype('int64') on customer_id")
    # past pandas' timestamp range: refused by the type coercion or by the range check, on that column
    assert reasons["13"].startswith(("in_range", "coerce_dtype('datetime64")) and reasons["13"].endswith("on ordered_at")
    assert reasons["2"] == "duplicate_key on id"
    assert reasons["14"].startswith("isin") and reasons["14"].endswith("on status")
    assert reasons["15,7,caf\ufffd,2025-03-01 10:00:00,2025-03-02 10:00:00,"] == "encoding on -"
    null_key = quarantine(settings, "drops", "orders", "SELECT _check, _column FROM q WHERE id IS NULL AND _raw IS NULL")
    assert null_key == [("not_nullable", "id")]
    failure = quarantine(settings, "drops", "orders", "SELECT _failure, _dlt_load_id FROM q WHERE id = '13'")
    assert failure == [("9999-01-01 00:00:00", result.load_ids[0])]


def test_broken_json_lines_and_a_10_mb_field(tmp_path):
    settings, landing = _drops(tmp_path)
    big = "x" * 10_000_000
    lines = [
        json.dumps(
            {
                "id": 1,
                "customer_id": 1,
                "status": "paid",
                "ordered_at": "2025-03-01T10:00:00",
                "updated_at": "2025-03-02T10:00:00",
                "note": big,
            }
        ),
        '{"id": 2, "customer_id": 1, "status": "paid", ',
        "[1, 2, 3]",
        json.dumps({"id": 3, "customer_id": 1, "status": "paid", "ordered_at": "2025-03-01T10:00:00", "updated_at": "2025-03-02T10:00:00"}),
        json.dumps(
            {
                "id": 4,
                "customer_id": 1,
                "status": "paid",
                "ordered_at": "2025-03-01T10:00:00",
                "updated_at": "2025-03-02T10:00:00",
                "note": 12345,
            }
        ),
    ]
    (landing / "orders-1.jsonl").write_text("\n".join(lines) + "\n")
    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 3} and result.quarantined == {"orders": 2}
    assert raw(settings, "drops", "orders", "SELECT id, length(note) FROM t ORDER BY id") == [(1, 10_000_000), (3, None), (4, 5)]
    checks = quarantine(settings, "drops", "orders", "SELECT _check, _failure FROM q ORDER BY _line")
    assert checks[0][0] == "json" and checks[0][1].startswith("broken JSON")
    assert checks[1] == ("json", "a JSON list, not an object")


def test_a_csv_with_a_10_mb_field_loads_whole(tmp_path):
    settings, landing = _drops(tmp_path)
    big = "y" * 10_000_000
    (landing / "orders-1.csv").write_text(
        f"id,customer_id,status,ordered_at,updated_at,note\n1,2,paid,2025-03-01 10:00:00,2025-03-02 10:00:00,{big}\n"
    )
    assert ingest_source(open_run(settings), "drops").rows == {"orders": 1}
    assert raw(settings, "drops", "orders", "SELECT length(note) FROM t") == [(10_000_000,)]


def test_empty_and_unreadable_files_are_rejected_with_a_reason(tmp_path):
    settings, landing = _drops(tmp_path)
    (landing / "orders-1.csv").write_text("")
    (landing / "orders-2.parquet").write_bytes(b"not parquet at all")
    (landing / "orders-3.csv").write_text(HEADER)  # a header and no rows: nothing to load
    (landing / "orders-4.csv").write_text(HEADER + _row(1))
    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 1}
    import contextlib

    from core import metastore

    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        outcome = dict(con.execute("SELECT path, status || ': ' || coalesce(reason, rows) FROM landing_files").fetchall())
    assert outcome["orders-1.csv"] == "rejected: empty file (0 bytes)"
    assert outcome["orders-2.parquet"].startswith("rejected: not a readable Parquet file")
    assert outcome["orders-3.csv"] == "rejected: no rows (a header only, or blank lines)"
    assert outcome["orders-4.csv"] == "loaded: 1"
    assert ingest_source(open_run(settings), "drops").total_rows == 0  # rejected files are not retried


def test_too_many_bad_rows_reject_that_file_alone_and_a_fixed_file_loads_once(tmp_path):
    settings, landing = _drops(tmp_path, quality={"max_bad_share": 0.2})
    (landing / "orders-1.csv").write_text(HEADER + _row(1) + _row(2))
    ingest_source(open_run(settings), "drops")
    (landing / "orders-2.csv").write_text(HEADER + _row(3) + _row(4, status="lost") + _row(5, status="gone"))
    (landing / "orders-3.csv").write_text(HEADER + _row(6) + _row(7))
    result = ingest_source(open_run(settings), "drops")
    assert result.rows == {"orders": 2}
    assert _ids(settings) == [1, 2, 6, 7]
    assert any("file orders-2.csv rejected: 2 of 3 rows (66.7%) are invalid, above quality.max_bad_share" in w for w in result.warnings)
    assert _outcomes(settings)["orders-2.csv"][:2] == ("rejected", 0)
    # once fixed (a new version of the file) it loads once
    (landing / "orders-2.csv").write_text(HEADER + _row(3) + _row(4) + _row(5) + "\n")
    assert ingest_source(open_run(settings), "drops").rows == {"orders": 3}
    assert _ids(settings) == [1, 2, 3, 4, 5, 6, 7]


def _outcomes(settings) -> dict[str, tuple]:
    """path -> (status, rows, rows_quarantined, reason) of the latest record of each file."""
    with contextlib.closing(runlog.connect(settings.meta_path)) as con:
        rows = con.execute("SELECT path, status, rows, rows_quarantined, reason FROM landing_files ORDER BY processed_at").fetchall()
    return {path: tuple(rest) for path, *rest in rows}


def test_quarantine_lists_rows_by_file_and_a_replayed_file_loads_again(tmp_path):
    refunds = {"pattern": "refunds*", "primary_key": "id"}
    settings, landing = _drops(tmp_path, tables={"refunds": refunds})
    (landing / "refunds-1.csv").write_bytes("id,reason\n1,late\n2,déjà payé\n".encode("latin-1"))
    assert ingest_source(open_run(settings), "drops").quarantined == {"refunds": 1}
    rows = quarantined_rows(settings, "drops", file="refunds-1.csv")
    assert [(r.table, r.source_file, r.line, r.check) for r in rows] == [("refunds", "refunds-1.csv", 3, "encoding")]
    assert quarantined_rows(settings, "drops", file="other.csv") == []

    # the table's encoding is declared, and the same file is taken again
    settings, _ = _drops(tmp_path, tables={"refunds": {**refunds, "encoding": "latin-1"}})
    replayed = replay_file(settings, "drops", "refunds-1.csv")
    assert replayed.rows == {"refunds": 2}
    assert any("refunds-1.csv was loaded before" in w for w in replayed.warnings)
    assert raw(settings, "drops", "refunds", "SELECT id, reason FROM t WHERE id = 2") == [(2, "déjà payé")]
    assert _outcomes(settings)["refunds-1.csv"][:3] == ("loaded", 2, 0)
    with pytest.raises(PlatformError, match="No ready file 'refunds-9.csv' in the landing area of drops"):
        replay_file(settings, "drops", "refunds-9.csv")


def test_just_quarantine_prints_file_line_and_check(tmp_path, monkeypatch, capsys):
    settings, landing = _drops(tmp_path, tables={"refunds": {"pattern": "refunds*"}})
    (landing / "refunds-1.csv").write_text("id,reason\n1,late\n2,early,extra\n3,lost\n")
    ingest_source(open_run(settings), "drops")
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(settings.data_dir))
    assert ingest_cli.main(["--project", str(settings.project_dir), "quarantine", "drops", "--table", "refunds"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("drops.refunds  refunds-1.csv:3  csv  -  'expected 2 columns, got 3'  ")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (b"id,v\n1,a\n2,b\n3,c\n", [2, 3, 4]),  # a row per line
        (b"id,v\n1,a\n2,b\n3,c", [2, 3, 4]),  # no line end after the last row
        (b"id,v\n1,a\n\n2,b\n3,c\n", [2, 4, 5]),  # a blank line is skipped, the rows after keep their lines
        (b'id,v\n1,"x\ny"\n2,b\n3,c\n', [2, 4, 5]),  # a quoted field over two lines
        (b"id,v\r\n1,a\r\n\r\n2,b\r\n3,c\r\n", [2, 4, 5]),
        (b"id,v\r1,a\r2,b\r3,c\r", None),  # lines ended by a lone carriage return are not counted
    ],
)
def test_each_csv_row_carries_the_line_it_starts_on(tmp_path, text, lines):
    import fsspec

    from ingest.file_readers import read_file

    path = tmp_path / "rows.csv"
    path.write_bytes(text)
    batches = list(read_file(str(path), "csv", fs=fsspec.filesystem("file"), batch_rows=2))
    assert [batch.rows["id"].to_pylist() for batch in batches] == [[1, 2], [3]]
    if lines is None:
        assert all(batch.lines is None for batch in batches)
    else:
        assert [line for batch in batches for line in batch.lines] == lines
