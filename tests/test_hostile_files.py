"""A battery of hostile file drops, all in one landing area and one run: every file's good rows
load exactly once, its bad rows are quarantined with file, line and reason, an unreadable file is
rejected with the reason, and nothing blocks the other files of the source."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import runlog
from core.lake import Lake
from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.sources import landed_files, quarantine, raw, settings_with_sources

HEADER = "id,customer_id,status,ordered_at,updated_at,deleted_at"


def _order(i: int, status: str = "placed", customer: int = 7) -> str:
    return f"{i},{customer},{status},2025-03-01 10:00:00,2025-03-02 10:00:00,"


def _json_order(i: int) -> str:
    return json.dumps(
        {"id": i, "customer_id": 3, "status": "paid", "ordered_at": "2025-03-01T10:00:00", "updated_at": "2025-03-02T10:00:00"}
    )


def _numbers(*rows: tuple) -> str:
    return "id,amount\n" + "".join(f"{i},{amount}\n" for i, amount in rows)


WIDE_COLUMNS = 500
BIG = 10_000_000

# table -> its declaration beside the pattern
TABLES = {
    "orders": {"pandera": "shop__orders"},
    "notes": {},
    "wide": {},
    "latin": {"encoding": "latin-1"},
    "amounts": {},
    "strict": {"on_type_drift": "refuse"},
    "coerced": {"on_type_drift": "coerce"},
    "typed": {},
    "jamounts": {},
    "jstrict": {"on_type_drift": "refuse"},
    "jcoerced": {"on_type_drift": "coerce"},
}


def _files() -> dict[str, bytes]:
    """Landed path -> content, in the order they land (the oldest first)."""
    wide_header = ",".join(["id"] + [f"c{n}" for n in range(1, WIDE_COLUMNS)])
    wide_rows = "".join(",".join([str(i)] + [str(i * n) for n in range(1, WIDE_COLUMNS)]) + "\n" for i in (1, 2, 3))
    return {
        "orders/good.csv": f"{HEADER}\n{_order(1)}\n{_order(2)}\n".encode(),
        "orders/repeated_header.csv": b"id,id,status\n1,2,placed\n",
        "orders/bom_crlf.csv": ("\ufeff" + HEADER + "\r\n" + _order(3) + "\r\n" + _order(4) + "\r\n").encode(),
        "orders/not_utf8.csv": f"{HEADER}\n{_order(5)}\n".encode()
        + _order(6, status="pay\xe9").encode("latin-1")
        + f"\n{_order(7)}\n".encode(),
        "orders/header_only.csv": f"{HEADER}\n".encode(),
        "orders/zero_bytes.csv": b"",
        "orders/ragged_and_invalid.csv": (
            f"{HEADER}\n{_order(8)}\n9,7,placed\n{_order(10, status='lost', customer=-1)}\n{_order(11)}\n"
        ).encode(),
        "orders/partial.jsonl": f"{_json_order(12)}\n{_json_order(13)}\n{_json_order(14)[:30]}".encode(),
        "notes/newlines.csv": b'id,note\r\n1,"first line\r\nsecond line"\r\n2,plain\r\n',
        "notes/repeated_header.csv": b"id,note,note\n5,a,b\n",
        "notes/numbers_in_text.csv": b"id,note\n6,12345\n",
        "notes/big_field.csv": f"id,note\n3,{'n' * BIG}\n4,small\n".encode(),
        "wide/wide.csv": f"{wide_header}\n{wide_rows}".encode(),
        "latin/declared.csv": "id,name\n1,Zoë\n2,Ångström\n".encode("latin-1"),
        "amounts/first.csv": _numbers((1, 10), (2, 20)).encode(),
        "amounts/drifted.csv": _numbers((3, 30), (4, "unknown")).encode(),
        "strict/first.csv": _numbers((1, 10)).encode(),
        "strict/drifted.csv": _numbers((2, 20), (3, "unknown")).encode(),
        "strict/fine.csv": _numbers((4, 40)).encode(),
        "coerced/first.csv": _numbers((1, 10)).encode(),
        "coerced/drifted.csv": _numbers((2, 20), (3, "unknown"), (4, 40)).encode(),
        "typed/first.parquet": _parquet({"id": [1, 2], "amount": [10, 20]}),
        "typed/unexpected.parquet": _parquet({"id": [3, 4], "amount": ["30", "thirty"]}),
        "jamounts/first.jsonl": _json_numbers((1, 10), (2, 20)),
        "jamounts/drifted.jsonl": _json_numbers((3, "lots"), (4, 40)),
        "jstrict/first.jsonl": _json_numbers((1, 10)),
        "jstrict/drifted.jsonl": _json_numbers((2, "lots")),
        "jcoerced/first.jsonl": _json_numbers((1, 10)),
        "jcoerced/drifted.jsonl": _json_numbers((2, "lots"), (3, 30)),
    }


def _json_numbers(*rows: tuple) -> bytes:
    return "".join(json.dumps({"id": i, "amount": amount}) + "\n" for i, amount in rows).encode()


def _parquet(columns: dict) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile")
    declaration = {
        "kind": "files",
        "landing": "landing/hostile",
        "settle_seconds": 0,
        "quality": {"max_bad_share": 0.5},
        "tables": {table: {"pattern": f"{table}/*", **extra} for table, extra in TABLES.items()},
    }
    settings = settings_with_sources(tmp_path, {"hostile": declaration})
    landing = settings.landing_path("hostile")
    landed_at = time.time() - 600
    for offset, (relative, content) in enumerate(_files().items()):
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (landed_at + offset, landed_at + offset))
    started = time.monotonic()
    first = ingest_source(open_run(settings), "hostile")
    seconds = time.monotonic() - started
    again = ingest_source(open_run(settings), "hostile")
    (landing / "amounts" / "later.csv").write_text(_numbers((5, "later"), (6, 60)))  # against the types of earlier loads
    later = ingest_source(open_run(settings), "hostile")
    with contextlib.closing(runlog.connect(settings.meta_path)) as con:
        outcomes = {
            path: (status, rows, bad, reason)
            for path, status, rows, bad, reason in con.execute("SELECT path, status, rows, rows_quarantined, reason FROM landing_files")
        }
        contract = {
            table: (rows_in, valid, bad)
            for table, rows_in, valid, bad in con.execute(
                "SELECT table_name, sum(rows_in), sum(rows_valid), sum(rows_quarantined) FROM contract_results GROUP BY table_name"
            )
        }
    return settings, first, again, outcomes, contract, seconds, later


def _raw(battery, table: str, sql: str) -> list[tuple]:
    return raw(battery[0], "hostile", table, sql)


def _quarantined(battery, table: str, sql: str) -> list[tuple]:
    return quarantine(battery[0], "hostile", table, sql)


def outcomes_of(battery, path: str) -> tuple:
    """(status, rows, rows_quarantined, reason) of a landed file in `landing_files`."""
    return battery[3][path]


def test_every_good_row_loads_exactly_once_and_a_second_run_takes_nothing(battery):
    settings, first, again, outcomes, contract, seconds, later = battery
    assert first.rows == {
        "orders": 10,
        "notes": 5,
        "wide": 3,
        "latin": 2,
        "amounts": 4,
        "strict": 2,
        "coerced": 3,
        "typed": 4,
        "jamounts": 4,
        "jstrict": 1,
        "jcoerced": 2,
    }
    assert _raw(battery, "orders", "SELECT id FROM t ORDER BY id") == [(i,) for i in (1, 2, 3, 4, 5, 7, 8, 11, 12, 13)]
    for table in TABLES:
        assert _raw(battery, table, "SELECT count(*) - count(DISTINCT id) FROM t") == [(0,)], table
    assert again.total_rows == 0 and again.rows == {}
    assert seconds < 60


def test_unreadable_files_are_rejected_with_a_reason_naming_the_problem(battery):
    settings, first, again, outcomes, contract, seconds, later = battery
    status, rows, bad, reason = outcomes["orders/repeated_header.csv"]
    assert (status, rows) == ("rejected", 0) and "repeats column 'id' (columns 1 and 2)" in reason
    assert "repeats column 'note' (columns 2 and 3)" in outcomes["notes/repeated_header.csv"][3]  # a table without a contract
    assert outcomes["orders/header_only.csv"][0] == "rejected" and "no rows" in outcomes["orders/header_only.csv"][3]
    assert outcomes["orders/zero_bytes.csv"][::3] == ("rejected", "empty file (0 bytes)")
    assert any(w.startswith("hostile.orders: file orders/repeated_header.csv rejected") for w in first.warnings)


def test_bom_crlf_embedded_newlines_wide_big_and_declared_encodings_load_whole(battery):
    settings, first, *_ = battery
    assert outcomes_of(battery, "orders/bom_crlf.csv") == ("loaded", 2, 0, None)
    assert _raw(battery, "orders", "SELECT status FROM t WHERE id IN (3, 4)") == [("placed",), ("placed",)]
    assert _raw(battery, "notes", "SELECT id, note FROM t WHERE id IN (1, 2) ORDER BY id") == [
        (1, "first line\r\nsecond line"),
        (2, "plain"),
    ]
    assert _raw(battery, "notes", "SELECT length(note) FROM t WHERE id = 3") == [(BIG,)]
    assert _raw(battery, "wide", f"SELECT count(*), sum(c{WIDE_COLUMNS - 1}) FROM t") == [(3, 6 * (WIDE_COLUMNS - 1))]
    assert _raw(battery, "latin", "SELECT name FROM t ORDER BY id") == [("Zoë",), ("Ångström",)]


def test_bad_rows_are_quarantined_with_file_line_and_every_failure(battery):
    found = _quarantined(battery, "orders", "SELECT _source_file, _line, _check, _column, _failures FROM q ORDER BY _source_file, _line")
    by_place = {(file, line): (check, column, json.loads(failures)) for file, line, check, column, failures in found}
    assert set(by_place) == {
        ("orders/not_utf8.csv", 3),
        ("orders/ragged_and_invalid.csv", 3),
        ("orders/ragged_and_invalid.csv", 4),
        ("orders/partial.jsonl", 3),
    }
    assert by_place[("orders/not_utf8.csv", 3)][0] == "encoding"
    assert by_place[("orders/ragged_and_invalid.csv", 3)][0] == "csv"
    assert by_place[("orders/partial.jsonl", 3)][0] == "json"
    check, column, failures = by_place[("orders/ragged_and_invalid.csv", 4)]
    assert {(f["column"], f["value"]) for f in failures} == {("status", "lost"), ("customer_id", "-1")}
    assert outcomes_of(battery, "orders/ragged_and_invalid.csv") == ("loaded", 2, 2, None)
    assert outcomes_of(battery, "orders/not_utf8.csv") == ("loaded", 2, 1, None)


def test_counts_add_up_between_landing_files_and_contract_results(battery):
    settings, first, again, outcomes, contract, seconds, later = battery
    for table in TABLES:
        loaded = [(rows, bad) for path, (status, rows, bad, _) in outcomes.items() if path.startswith(f"{table}/") and status == "loaded"]
        rows_in, valid, bad = contract[table]
        assert (sum(r for r, _ in loaded), sum(b for _, b in loaded)) == (valid, bad), table
        assert rows_in == valid + bad and _raw(battery, table, "SELECT count(*) FROM t") == [(valid,)], table


def test_type_drift_follows_each_tables_policy_and_never_retypes_earlier_loads(battery):
    settings, first, *_, later = battery
    assert later.rows == {"amounts": 2}
    assert any("column 'amount' is bigint, got 1 text value(s), the first at line 2 in file amounts/later.csv" in w for w in later.warnings)
    assert _raw(battery, "amounts", "SELECT id, amount, amount__v_text FROM t ORDER BY id") == [
        (1, 10, None),
        (2, 20, None),
        (3, 30, None),
        (4, None, "unknown"),
        (5, None, "later"),
        (6, 60, None),
    ]
    assert _raw(battery, "amounts", "SELECT DISTINCT typeof(amount) FROM t") == [("BIGINT",)]
    assert any(
        "hostile.amounts: column 'amount' is bigint, got 1 text value(s), the first at line 3 in file amounts/drifted.csv" in w
        for w in first.warnings
    )
    assert outcomes_of(battery, "amounts/drifted.csv") == (
        "loaded",
        2,
        0,
        "hostile.amounts: column 'amount' is bigint, got 1 text value(s), the first at line 3 (on_type_drift: variant)",
    )
    status, rows, bad, reason = outcomes_of(battery, "strict/drifted.csv")
    assert status == "rejected" and "column 'amount' is bigint, got 1 text value(s)" in reason and "on_type_drift is refuse" in reason
    assert _raw(battery, "strict", "SELECT id FROM t ORDER BY id") == [(1,), (4,)]
    assert _raw(battery, "coerced", "SELECT id, amount FROM t ORDER BY id") == [(1, 10), (2, 20), (4, 40)]
    assert _quarantined(battery, "coerced", "SELECT id, amount, _check, _source_file, _line FROM q") == [
        ("3", "unknown", "type_drift(bigint)", "coerced/drifted.csv", 3)
    ]
    assert _raw(battery, "typed", "SELECT id, amount, amount__v_text FROM t ORDER BY id") == [
        (1, 10, None),
        (2, 20, None),
        (3, 30, None),
        (4, None, "thirty"),
    ]


def test_type_drift_in_json_rows_follows_the_same_policies(battery):
    settings, first, *_ = battery
    assert _raw(battery, "jamounts", "SELECT id, amount, amount__v_text FROM t ORDER BY id") == [
        (1, 10, None),
        (2, 20, None),
        (3, None, "lots"),
        (4, 40, None),
    ]
    assert any(
        "hostile.jamounts: column 'amount' is bigint, got 1 text value(s), the first at line 1 in file jamounts/drifted.jsonl" in w
        for w in first.warnings
    )
    status, rows, bad, reason = outcomes_of(battery, "jstrict/drifted.jsonl")
    assert status == "rejected" and "on_type_drift is refuse" in reason
    assert _raw(battery, "jcoerced", "SELECT id, amount FROM t ORDER BY id") == [(1, 10), (3, 30)]
    assert _quarantined(battery, "jcoerced", "SELECT id, amount, _check, _source_file, _line FROM q") == [
        ("2", "lots", "type_drift(bigint)", "jcoerced/drifted.jsonl", 1)
    ]


def test_a_text_column_stays_text_in_every_file(battery):
    folder = Path(Lake(battery[0]).url("raw", "hostile", "notes"))
    assert {str(pq.read_schema(path).field("note").type) for path in folder.glob("*.parquet")} == {"string"}
    assert _raw(battery, "notes", "SELECT note FROM t WHERE id = 6") == [("12345",)]


def test_a_file_whose_columns_raw_cannot_name_apart_is_rejected_alone_naming_them(tmp_path):
    """dlt names raw's columns in snake_case: two names that become one would stop every table of the source
    (CSV, Parquet) or keep one value of the two (JSON)."""
    tables = {name: {"pattern": f"{name}/*"} for name in ("cased", "spaced", "accented", "json", "columnar", "unnamed", "dlt", "fine")}
    files = {
        "cased/a.csv": b"id,Amount,amount\n1,10,20\n",
        "spaced/a.csv": b"id,Order ID,order_id\n1,10,20\n",
        "accented/a.csv": "id,Größe,größe\n1,10,20\n".encode(),
        "json/a.jsonl": b'{"id": 1, "amount": 20}\n{"id": 2, "Amount": 10}\n',
        "columnar/a.parquet": _parquet({"id": [1], "Amount": [10], "amount": [20]}),
        "unnamed/a.csv": b"id,,x\n1,10,20\n",
        "dlt/a.csv": b"id,_dlt_load_id\n1,10\n",
        "fine/a.csv": b"id,Amount\n1,10\n",
    }
    settings = landed_files(tmp_path, "names", tables, files)
    result = ingest_source(open_run(settings), "names")
    assert result.rows == {"fine": 1}
    assert raw(settings, "names", "fine", "SELECT id, amount FROM t") == [(1, 10)]
    rejected = sorted(w for w in result.warnings if "rejected" in w)
    assert rejected == [
        "names.accented: file accented/a.csv rejected: columns 'Größe' (2) and 'größe' (3) would both be column 'gr_e' in raw; "
        "rename one and drop the file again",
        "names.cased: file cased/a.csv rejected: columns 'Amount' (2) and 'amount' (3) would both be column 'amount' in raw; "
        "rename one and drop the file again",
        "names.columnar: file columnar/a.parquet rejected: columns 'Amount' (2) and 'amount' (3) would both be column 'amount' "
        "in raw; rename one and drop the file again",
        "names.dlt: file dlt/a.csv rejected: column '_dlt_load_id' (2) takes a name that dlt writes itself (_dlt_load_id); "
        "drop or rename it",
        "names.json: file json/a.jsonl rejected: keys 'Amount' and 'amount' would both be column 'amount' in raw; rename one "
        "and drop the file again",
        "names.spaced: file spaced/a.csv rejected: columns 'Order ID' (2) and 'order_id' (3) would both be column 'order_id' "
        "in raw; rename one and drop the file again",
        "names.unnamed: file unnamed/a.csv rejected: column 2 has no name; name it and drop the file again",
    ]


def test_a_file_the_load_itself_fails_on_is_rejected_alone_and_every_other_file_loads_in_order(tmp_path):
    """A value or type that no check before the load knows to refuse (here a duration column, which dlt cannot
    take) fails the load of every file with it: the files are taken again one per load, the one the load fails
    on is rejected with the failure, and the others load in landing order."""
    lasting = pa.array([5], pa.duration("ns"))
    files = {
        "events/1.csv": b"id,v\n1,a\n2,b\n",
        "events/2.parquet": _parquet({"id": pa.array([3]), "lasted": lasting}),
        "events/3.csv": b"id,v\n2,b2\n4,d\n",
        "other/1.csv": b"id,w\n7,x\n",
        "events/4.parquet": _parquet({"id": pa.array([5]), "lasted": lasting}),
        "events/5.csv": b"id,v\n4,d2\n",
    }
    settings = landed_files(tmp_path, "unknown", {"events": {"pattern": "events/*"}, "other": {"pattern": "other/*"}}, files)
    result = ingest_source(open_run(settings), "unknown")

    assert result.rows == {"events": 5, "other": 1}
    latest = "SELECT id, v FROM t QUALIFY row_number() OVER (PARTITION BY id ORDER BY _dlt_load_id DESC) = 1 ORDER BY id"
    assert raw(settings, "unknown", "events", latest) == [(1, "a"), (2, "b2"), (4, "d2")]
    assert raw(settings, "unknown", "other", "SELECT id, w FROM t") == [(7, "x")]
    rejected = sorted(w for w in result.warnings if "rejected" in w)
    assert [w.partition(": UnsupportedArrowTypeException")[0] for w in rejected] == [
        f"unknown.events: file events/{n}.parquet rejected: the load failed on it in column 'lasted'" for n in (2, 4)
    ]
    assert all("duration[ns]" in w for w in rejected)
    with contextlib.closing(runlog.connect(settings.meta_path)) as con:
        outcomes = dict(con.execute("SELECT path, status FROM landing_files"))
    assert outcomes == {
        "events/1.csv": "loaded",
        "events/2.parquet": "rejected",
        "events/3.csv": "loaded",
        "other/1.csv": "loaded",
        "events/4.parquet": "rejected",
        "events/5.csv": "loaded",
    }
    again = ingest_source(open_run(settings), "unknown")
    assert again.rows == {} and not [w for w in again.warnings if "rejected" in w]


def test_headers_named_otherwise_than_raw_are_checked_under_raws_names(tmp_path):
    """`Order ID` is raw's `order_id`: the declared key, the key checks and a column's loaded type all find it."""
    tables = {
        "lines": {"pattern": "lines/*", "primary_key": ["order_id", "line_no"]},
        "tickets": {"pattern": "tickets/*", "primary_key": "id"},
    }
    files = {
        "lines/1.csv": b"Order ID,Line No,Amount\n1,1,10\n1,2,20\n1,1,30\n",
        "tickets/1.jsonl": b'{"ID": 1, "Subject Line": "a"}\n{"ID": 1, "Subject Line": "b"}\n',
        "tickets/2.parquet": _parquet({"ID": [2], "Subject Line": ["c"]}),
        "lines/2.csv": b"Order ID,Line No,Amount\n2,1,lots\n",
    }
    settings = landed_files(tmp_path, "named", tables, files)
    result = ingest_source(open_run(settings), "named")

    assert result.rows == {"lines": 3, "tickets": 2}
    assert raw(settings, "named", "lines", "SELECT order_id, line_no, amount, amount__v_text FROM t ORDER BY ALL") == [
        (1, 1, 30, None),
        (1, 2, 20, None),
        (2, 1, None, "lots"),
    ]
    assert raw(settings, "named", "tickets", "SELECT id, subject_line FROM t ORDER BY id") == [(1, "b"), (2, "c")]
    assert quarantine(settings, "named", "lines", "SELECT _line, _check, _column FROM q") == [(2, "duplicate_key", "order_id,line_no")]
    assert any("column 'amount' is bigint, got 1 text value(s), the first at line 2 in file lines/2.csv" in w for w in result.warnings)
