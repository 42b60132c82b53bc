"""Keys of file drops: the latest version of a key wins, bad keys are row-level, composite keys work (issue 26)."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import random
import time

import pyarrow as pa
import pytest
from pydantic import ValidationError

from app.queries import quality
from core import metastore
from core.lake import Lake
from core.run_context import open_run
from core.settings_sources import FileTableSettings
from core.warehouse import sql_literal
from ingest import cli as ingest_cli
from ingest.file_keys import LoadKeys, last_of_each_key
from ingest.landing import processed
from ingest.pipeline import ingest_source
from scheduler import alerts, monitor
from tests.support.sources import landed_files, quarantine, raw, settings_with_sources

LATEST = "SELECT {columns} FROM t QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _dlt_load_id DESC) = 1 ORDER BY ALL"


def _drops(tmp_path, tables: dict, **source):
    declaration = {"kind": "files", "landing": "landing/drops", "settle_seconds": 0, "tables": tables, **source}
    settings = settings_with_sources(tmp_path, {"drops": declaration})
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True, exist_ok=True)
    return settings, landing


def _land(landing, name: str, text: str, age: float) -> None:
    """Write a file whose landing time is `age` seconds ago (landing order is modification time, then name)."""
    path = landing / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def _outcomes(settings) -> dict[str, tuple]:
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        rows = con.execute("SELECT path, status, rows, rows_quarantined, reason FROM landing_files").fetchall()
    return {path: rest for path, *rest in rows}


def test_the_later_file_of_one_run_wins_and_a_key_repeated_in_a_file_keeps_its_last_row(tmp_path):
    settings, landing = _drops(tmp_path, {"prices": {"pattern": "prices/*.csv", "primary_key": "sku"}})
    # named so that name order and landing order disagree: landing order decides
    _land(landing, "prices/b-older.csv", "sku,price\n1,10\n2,20\n3,30\n", age=60)
    _land(landing, "prices/a-newer.csv", "sku,price\n1,11\n2,21\n2,22\n4,41\n", age=30)
    result = ingest_source(open_run(settings), "drops")

    assert len(result.load_ids) == 2  # one load per file of the table, in landing order
    assert raw(settings, "drops", "prices", LATEST.format(columns="sku, price", key="sku")) == [(1, 11), (2, 22), (3, 30), (4, 41)]
    # the repeated key: its earlier row is in quarantine, named by line and the line that supersedes it
    assert quarantine(settings, "drops", "prices", "SELECT sku, price, _check, _line, _failure, _source_file FROM q") == [
        ("2", "21", "duplicate_key", 3, "superseded by the later row at line 4", "prices/a-newer.csv")
    ]
    assert any("prices/a-newer.csv: 1 key(s) repeated in the file" in warning for warning in result.warnings)
    assert tuple(_outcomes(settings)["prices/a-newer.csv"][:3]) == ("loaded", 3, 1)


def test_files_that_share_no_key_load_together_and_a_file_repeating_a_key_starts_the_next_load(tmp_path):
    settings, landing = _drops(
        tmp_path,
        {
            "prices": {"pattern": "prices/*.csv", "primary_key": "sku"},
            "lines": {"pattern": "lines/*.csv", "primary_key": ["order_id", "code"]},
        },
    )
    _land(landing, "prices/a.csv", "sku,price\n1,10\n2,20\n", age=60)
    _land(landing, "prices/b.csv", "sku,price\n3,30\n4,40\n", age=50)
    _land(landing, "prices/c.csv", "sku,price\n5,50\n2,21\n", age=40)  # repeats sku 2 of a.csv
    _land(landing, "prices/d.csv", "sku,price\n6,60\n", age=30)
    _land(landing, "lines/a.csv", "order_id,code,qty\n1,x,1\n1,y,2\n", age=60)
    _land(landing, "lines/b.csv", "order_id,code,qty\n2,x,3\n1,z,4\n", age=50)
    _land(landing, "lines/c.csv", "order_id,code,qty\n1,y,20\n", age=40)  # repeats (1, y) of lines/a.csv
    result = ingest_source(open_run(settings), "drops")

    assert len(result.load_ids) == 2 and result.rows == {"prices": 7, "lines": 5}
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        loads = dict(con.execute("SELECT path, load_id FROM landing_files").fetchall())
    first, second = sorted(result.load_ids)
    assert loads == {
        "prices/a.csv": first,
        "prices/b.csv": first,
        "prices/c.csv": second,
        "prices/d.csv": second,
        "lines/a.csv": first,
        "lines/b.csv": first,
        "lines/c.csv": second,
    }
    assert raw(settings, "drops", "prices", LATEST.format(columns="sku, price", key="sku")) == [
        (1, 10),
        (2, 21),
        (3, 30),
        (4, 40),
        (5, 50),
        (6, 60),
    ]
    assert raw(settings, "drops", "lines", LATEST.format(columns="order_id, code, qty", key="order_id, code")) == [
        (1, "x", 1),
        (1, "y", 20),
        (1, "z", 4),
        (2, "x", 3),
    ]


@pytest.mark.parametrize("seed", range(30))
def test_a_file_joins_a_load_exactly_when_it_shares_no_key_in_a_generated_battery(seed):
    """Random files of integer or composite keys, in order, shuffled, with ranges apart, overlapping or nested: each
    file joins the load exactly when none of its keys is among the keys of the files that joined before it."""
    rng = random.Random(seed)
    composite = rng.random() < 0.3
    keys = LoadKeys(["a", "b"] if composite else ["id"])
    taken: set = set()
    for _ in range(rng.choice([2, 8, 60])):  # sixty files: the load's keys are held in runs merged as files join
        start, size = rng.randrange(0, 5_000), rng.choice([1, 10, 1_000, 4_000])
        values = rng.sample(range(start, start + size * rng.choice([1, 2, 50])), size)
        if taken and rng.random() < 0.4:  # one shared key, often at the edge of a range
            shared = rng.choice([min(taken), max(taken), rng.choice(sorted(taken))])
            values = [v for v in values if v != shared][: size - 1] + [shared]
            rng.shuffle(values)
        if rng.random() < 0.5:
            values.sort()
        file = pa.table({"a": [v % 97 for v in values], "b": [f"x{v // 97}" for v in values]}) if composite else pa.table({"id": values})
        cut = rng.randint(0, size)
        batches = [file.slice(0, cut), file.slice(cut)]
        assert keys.take(batches) == taken.isdisjoint(values), (seed, len(taken), size)
        if taken.isdisjoint(values):
            taken |= set(values)


def test_a_file_joins_a_load_only_when_none_of_its_keys_is_in_it():
    ints = LoadKeys(["id"])
    assert ints.take([pa.table({"id": [5, 1, 3]})]) and ints.take([pa.table({"id": [2, 4]}), pa.table({"id": [9]})])
    assert not ints.take([pa.table({"id": [7, 3]})])  # 3 is in the load
    assert ints.take([pa.table({"id": pa.array([], pa.int64())})])  # a file without rows joins any load
    assert not ints.take([pa.table({"id": ["6"]})])  # typed otherwise: not compared, not joined

    pairs = LoadKeys(["order_id", "code"])
    assert pairs.take([pa.table({"order_id": [1, 1], "code": ["x", "y"]})])
    assert pairs.take([pa.table({"order_id": [2, 1], "code": ["x", "z"]})])
    assert not pairs.take([pa.table({"order_id": [3, 1], "code": ["a", "y"]})])

    stamps = LoadKeys(["at"])
    assert stamps.take([pa.table({"at": [dt.datetime(2025, 1, 1)]})])
    assert not stamps.take([pa.table({"at": [dt.datetime(2025, 1, 2), dt.datetime(2025, 1, 1)]})])

    floats = LoadKeys(["x"])  # not comparable as loaded (-0.0 and 0.0): a load of its own
    assert floats.take([pa.table({"x": [1.5]})]) and not floats.take([pa.table({"x": [2.5]})])
    rows = LoadKeys(["id"])  # JSON rows the same
    assert rows.take([[{"id": 1}]]) and not rows.take([[{"id": 2}]])
    mixed = LoadKeys(["id"])  # a key typed apart within a file
    assert mixed.take([pa.table({"id": [1]}), pa.table({"id": ["2"]})]) and not mixed.take([pa.table({"id": [3]})])


def test_rows_with_a_missing_blank_or_mistyped_key_are_quarantined_without_a_contract(tmp_path):
    settings, landing = _drops(
        tmp_path,
        {"items": {"pattern": "items/*.csv"}, "notes": {"pattern": "notes/*.csv", "primary_key": "code"}},
        quality={"max_bad_share": 0.9},
    )
    _land(landing, "items/1.csv", "id,name\n1,a\n2,b\n", age=60)
    _land(landing, "notes/1.csv", "code,body\nx,first\n ,blank\ny,second\n", age=60)
    ingest_source(open_run(settings), "drops")
    _land(landing, "items/2.csv", "id,name\n3,c\n,no key\nfour,text key\n5,e\n", age=30)
    result = ingest_source(open_run(settings), "drops")

    assert raw(settings, "drops", "items", "SELECT id, name FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "c"), (5, "e")]
    assert raw(settings, "drops", "notes", "SELECT code FROM t ORDER BY 1") == [("x",), ("y",)]
    assert quarantine(settings, "drops", "items", "SELECT _line, _check, _column FROM q ORDER BY 1") == [
        (3, "key_missing", "id"),
        (4, "key_type", "id"),
    ]
    assert quarantine(settings, "drops", "notes", "SELECT _line, _check, _column FROM q") == [(3, "key_missing", "code")]
    assert "id__v_text" not in [row[0] for row in raw(settings, "drops", "items", "DESCRIBE t")]
    assert result.rows == {"items": 2}


def test_json_rows_with_a_missing_or_mistyped_key_are_quarantined(tmp_path):
    settings, landing = _drops(tmp_path, {"items": {"pattern": "items/*.jsonl"}}, quality={"max_bad_share": 0.9})
    _land(landing, "items/1.jsonl", '{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n', age=60)
    ingest_source(open_run(settings), "drops")
    rows = '{"id": 3, "v": "c"}\n{"id": null, "v": "n"}\n{"v": "no key"}\n{"id": "four", "v": "d"}\n{"id": 3, "v": "c2"}\n'
    _land(landing, "items/2.jsonl", rows, age=30)
    result = ingest_source(open_run(settings), "drops")

    assert result.rows == {"items": 1}
    assert raw(settings, "drops", "items", "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "c2")]
    assert quarantine(settings, "drops", "items", "SELECT _line, _check, _column FROM q ORDER BY 1") == [
        (1, "duplicate_key", "id"),
        (2, "key_missing", "id"),
        (3, "key_missing", "id"),
        (4, "key_type", "id"),
    ]


def test_a_file_without_the_key_column_is_refused_alone_naming_it_where_a_user_looks(tmp_path, monkeypatch, capsys):
    settings, landing = _drops(tmp_path, {"items": {"pattern": "items/*.csv"}, "other": {"pattern": "other/*.csv"}})
    _land(landing, "items/bad.csv", "item_id,name\n1,a\n", age=60)
    _land(landing, "items/good.csv", "id,name\n2,b\n", age=50)
    _land(landing, "other/1.csv", "id,v\n7,x\n", age=50)
    result = ingest_source(open_run(settings), "drops")

    assert result.rows == {"items": 1, "other": 1}
    status, _, _, reason = _outcomes(settings)["items/bad.csv"]
    assert status == "rejected" and "no key column 'id'" in reason
    assert any(w.startswith("drops.items: file items/bad.csv rejected: no key column 'id'") for w in result.warnings)

    # a file refused for too many bad rows names their lines, never `None:` nor a row's value
    _land(landing, "items/worse.csv", "id,name\n,secret-a\n,secret-b\n9,c\n", age=40)
    ingest_source(open_run(settings), "drops")
    reason = _outcomes(settings)["items/worse.csv"][3]
    assert "First failures: id: key_missing (file items/worse.csv, line 2); id: key_missing (file items/worse.csv, line 3)" in reason
    assert "None" not in reason and "secret" not in reason

    # where a user looks: `just quarantine`, the app's data quality page, and an alert
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(settings.data_dir))
    assert ingest_cli.main(["--project", str(settings.project_dir), "quarantine", "drops"]) == 0
    printed = capsys.readouterr().out
    assert "drops.items  items/bad.csv  rejected: no key column 'id'" in printed and "items/worse.csv  rejected: 2 of 3 rows" in printed
    assert set(quality.rejected_files(settings.meta_path)["path"]) == {"items/bad.csv", "items/worse.csv"}
    monitor.run_checks(settings)
    alert = [a for a in alerts.open_alerts(settings.meta_path) if a["alert_key"] == "rejected_files:drops"]
    assert len(alert) == 1 and "2 landed file(s) rejected" in alert[0]["message"] and "secret" not in alert[0]["message"]


def test_a_composite_key_dedupes_and_refuses_rows_missing_a_part(tmp_path):
    settings, landing = _drops(
        tmp_path, {"lines": {"pattern": "lines/*.csv", "primary_key": ["order_id", "line"]}}, quality={"max_bad_share": 0.9}
    )
    _land(landing, "lines/1.csv", "order_id,line,qty\n1,1,5\n1,2,6\n2,1,7\n", age=60)
    _land(landing, "lines/2.csv", "order_id,line,qty\n1,2,60\n1,,8\n2,1,70\n2,1,71\n", age=30)
    ingest_source(open_run(settings), "drops")

    latest = LATEST.format(columns="order_id, line, qty", key="order_id, line")
    assert raw(settings, "drops", "lines", latest) == [(1, 1, 5), (1, 2, 60), (2, 1, 71)]
    assert quarantine(settings, "drops", "lines", "SELECT _line, _check, _column FROM q ORDER BY 1") == [
        (3, "key_missing", "line"),
        (4, "duplicate_key", "order_id,line"),
    ]
    assert {path for path, _ in processed(settings.meta_path, "drops")} == {"lines/1.csv", "lines/2.csv"}


def test_a_text_value_in_the_first_file_s_whole_number_key_is_quarantined_and_the_key_stays_whole_numbers(tmp_path):
    settings, landing = _drops(
        tmp_path,
        {"items": {"pattern": "items/*.csv"}, "codes": {"pattern": "codes/*.csv", "primary_key": "code"}},
        quality={"max_bad_share": 0.9},
    )
    _land(landing, "items/1.csv", "id,name\n1,a\nx2,b\n3,c\n", age=60)
    _land(landing, "codes/1.csv", "code,body\nA1,first\n7,second\nB2,third\n", age=60)  # a text key stays text
    ingest_source(open_run(settings), "drops")

    assert raw(settings, "drops", "items", "SELECT typeof(id), id, name FROM t ORDER BY id") == [("BIGINT", 1, "a"), ("BIGINT", 3, "c")]
    assert quarantine(settings, "drops", "items", "SELECT _line, _check, _column FROM q") == [(3, "key_type", "id")]  # as in a later file
    assert "id__v_text" not in [row[0] for row in raw(settings, "drops", "items", "DESCRIBE t")]
    assert raw(settings, "drops", "codes", "SELECT code FROM t ORDER BY 1") == [("7",), ("A1",), ("B2",)]


def test_a_composite_primary_key_is_a_list_of_distinct_columns():
    assert FileTableSettings(pattern="x", primary_key=["a", "b"]).key_columns == ["a", "b"]
    assert FileTableSettings(pattern="x").key_columns == ["id"]
    with pytest.raises(ValidationError, match="distinct columns"):
        FileTableSettings(pattern="x", primary_key=["a", "a"])
    # a table with personal columns may have a composite key: an erasure names each column (tests/test_erasure_composite.py)
    assert FileTableSettings(pattern="x", primary_key=["a", "b"], personal={"email": "hash"}).key_columns == ["a", "b"]


HEADER = "id,customer_id,status,ordered_at,updated_at,deleted_at\n"


def _order(i: int, status: str) -> str:
    return f"{i},7,{status},2025-03-01 10:00:00,2025-03-02 10:00:00,\n"


def test_reingest_of_a_file_table_takes_every_landed_file_again_under_a_tightened_contract(tmp_path):
    table = {"orders": {"pattern": "orders/*.csv", "pandera": "shop__orders"}}
    settings, landing = _drops(tmp_path, table, quality={"enabled": False})
    _land(landing, "orders/1.csv", HEADER + _order(1, "placed") + _order(2, "bogus") + _order(2, "paid"), age=60)
    _land(landing, "orders/2.csv", HEADER + _order(3, "lost") + _order(4, "paid"), age=30)
    ingest_source(open_run(settings), "drops")
    assert raw(settings, "drops", "orders", LATEST.format(columns="id, status", key="id")) == [
        (1, "placed"),
        (2, "paid"),
        (3, "lost"),
        (4, "paid"),
    ]

    tightened, _ = _drops(tmp_path, table, quality={"enabled": True, "max_bad_share": 0.9})
    result = ingest_source(open_run(tightened), "drops", reload=["orders"])  # what `just reingest drops.orders` loads

    assert result.rows == {"orders": 3} and len(result.load_ids) == 1  # the two files share no key: one load
    assert raw(settings, "drops", "orders", LATEST.format(columns="id, status", key="id")) == [(1, "placed"), (2, "paid"), (4, "paid")]
    assert quarantine(settings, "drops", "orders", "SELECT _source_file, _line, _check FROM q ORDER BY ALL") == [
        ("orders/1.csv", 3, "duplicate_key"),  # the contract sees only the last version of a key in a file
        ("orders/2.csv", 2, "isin(('placed', 'paid', 'shipped', 'delivered', 'cancelled'))"),
    ]
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        taken = con.execute("SELECT path, count(*) FROM landing_files GROUP BY 1 ORDER BY 1").fetchall()
    assert taken == [("orders/1.csv", 2), ("orders/2.csv", 2)]  # every taking of a file is kept


def test_reingest_keeps_the_order_files_were_taken_in_when_a_later_drop_has_an_older_mtime(tmp_path):
    settings, landing = _drops(tmp_path, {"orders": {"pattern": "orders/*.csv"}})
    _land(landing, "orders/1.csv", "id,status\n1,placed\n2,placed\n", age=0)
    ingest_source(open_run(settings), "drops")
    # dropped after the first file was taken, though copied with an older modification time
    _land(landing, "orders/3.csv", "id,status\n2,shipped\n3,placed\n", age=60)
    _land(landing, "orders/2.csv", "id,status\n2,delivered\n", age=30)
    ingest_source(open_run(settings), "drops")
    latest = [(1, "placed"), (2, "delivered"), (3, "placed")]
    assert raw(settings, "drops", "orders", LATEST.format(columns="id, status", key="id")) == latest

    result = ingest_source(open_run(settings), "drops", reload=["orders"])  # what `just reingest drops.orders` loads

    assert result.rows == {"orders": 5} and len(result.load_ids) == 3
    assert raw(settings, "drops", "orders", LATEST.format(columns="id, status", key="id")) == latest


def test_missing_tokens_are_missing_in_text_too_and_non_finite_numbers_are_quarantined(tmp_path):
    settings, landing = _drops(
        tmp_path,
        {
            "readings": {"pattern": "readings/*.csv"},
            "custom": {"pattern": "custom/*.csv", "missing_values": ["-"], "non_finite": "keep"},
        },
        quality={"max_bad_share": 0.9},
    )
    _land(landing, "readings/1.csv", "id,label,value\n1,NA,1.5\n2,ok,-1e309\n3,,inf\n4,null,2\n", age=60)
    _land(landing, "custom/1.csv", "id,label,value\n1,NA,-\n2,-,1e309\n", age=60)
    ingest_source(open_run(settings), "drops")

    assert raw(settings, "drops", "readings", "SELECT id, label, value FROM t ORDER BY id") == [(1, None, 1.5), (4, None, 2.0)]
    assert quarantine(settings, "drops", "readings", "SELECT _line, _check, _column FROM q ORDER BY 1") == [
        (3, "non_finite", "value"),
        (4, "non_finite", "value"),
    ]
    assert raw(settings, "drops", "custom", "SELECT id, label, value FROM t ORDER BY id") == [(1, "NA", None), (2, None, float("inf"))]


@pytest.mark.parametrize(
    "values",
    [
        [5, 3, 9, 3, 1, 5],  # integers out of order
        ["b", "a", "c", "a", "d", "b"],
        [dt.datetime(2025, 1, d) for d in (2, 1, 3, 1, 4, 2)],
    ],
)
def test_the_last_row_of_a_repeated_key_wins_across_the_batches_of_a_file(values):
    batches = [pa.table({"k": values[:3], "v": [0, 1, 2]}), pa.table({"k": values[3:], "v": [3, 4, 5]})]
    kept = last_of_each_key(batches, [[2, 3, 4], [5, 6, 7]], ["k"], "f.csv")

    assert [row["v"] for batch in kept.batches for row in batch.to_pylist()] == [2, 3, 4, 5]
    assert kept.lines == [[4], [5, 6, 7]]
    assert kept.quarantined is not None and kept.quarantined["_line"].to_pylist() == [2, 3]
    assert kept.keys_repeated == 2


def test_a_key_typed_apart_in_two_batches_is_compared_as_text():
    batches = [pa.table({"k": [1, 2]}), pa.table({"k": ["2", "3"]})]
    kept = last_of_each_key(batches, [[2, 3], [4, 5]], ["k"], "f.csv")
    assert kept.lines == [[2], [4, 5]] and kept.keys_repeated == 1
    unique = last_of_each_key([pa.table({"k": [4, 1, 3]}), pa.table({"k": [2, 7]})], [[2, 3, 4], [5, 6]], ["k"], "f.csv")
    assert unique.quarantined is None and unique.lines == [[2, 3, 4], [5, 6]]


@pytest.mark.parametrize("seed", range(40))
def test_the_last_row_of_each_key_wins_in_a_generated_battery_of_keys(seed):
    """Random files of one to three key columns (integers, text, dates, timestamps), in random batches, few or many
    repeats, some rows missing part of their key: the rows kept are exactly the last row of each complete key and
    every row missing part of it, whatever path (hashes, the exact grouping) finds the repeats."""
    rng = random.Random(seed)
    kinds = [rng.choice(["int", "text", "date", "timestamp"]) for _ in range(rng.randint(1, 3))]
    rows = rng.choice([2, 50, 3_000])
    spread = rng.choice([2, rows // 2 + 1, rows * 10])  # values per key column: many repeats, some, almost none

    def value(kind: str, n: int):
        values = {"int": n, "text": f"v{n}", "date": dt.date(2025, 1, 1) + dt.timedelta(days=n)}
        return values[kind] if kind in values else dt.datetime(2025, 1, 1) + dt.timedelta(seconds=n)

    keys = [f"k{i}" for i in range(len(kinds))]
    table = []
    for _ in range(rows):
        row = {key: value(kind, rng.randrange(spread)) for key, kind in zip(keys, kinds, strict=True)}
        if rng.random() < 0.05:
            row[rng.choice(keys)] = None
        table.append(row)
    cuts = sorted(rng.sample(range(1, rows), min(rows - 1, rng.randint(0, 3)))) if rows > 1 else []
    bounds = [0, *cuts, rows]
    batches = [pa.Table.from_pylist([{**table[i], "v": i} for i in range(a, b)]) for a, b in zip(bounds, bounds[1:], strict=False)]
    lines = [list(range(a + 2, b + 2)) for a, b in zip(bounds, bounds[1:], strict=False)]

    kept = last_of_each_key(batches, lines, keys, "f.csv")

    last = {tuple(row[key] for key in keys): i for i, row in enumerate(table) if all(row[key] is not None for key in keys)}
    expected = [i for i, row in enumerate(table) if any(row[key] is None for key in keys) or last[tuple(row[key] for key in keys)] == i]
    assert [row["v"] for batch in kept.batches for row in batch.to_pylist()] == expected
    assert [line for batch_lines in kept.lines for line in batch_lines] == [i + 2 for i in expected]
    counts = collections.Counter(tuple(row[key] for key in keys) for row in table if all(row[key] is not None for key in keys))
    assert kept.keys_repeated == sum(1 for count in counts.values() if count > 1)
    dropped = kept.quarantined["_line"].to_pylist() if kept.quarantined is not None else []
    assert sorted(dropped) == [i + 2 for i in range(rows) if i not in set(expected)]


def test_a_file_loads_as_one_row_group_whatever_its_batches(tmp_path):
    settings, landing = _drops(tmp_path, {"items": {"pattern": "items/*.csv"}}, batch_rows=1_000)
    rows = "".join(f"{i},{i % 7}\n" for i in range(1, 12_001))
    _land(landing, "items/1.csv", "id,amount\n" + rows, age=30)  # checked in 12 batches of 1,000 rows
    ingest_source(open_run(settings), "drops")

    assert raw(settings, "drops", "items", "SELECT count(*), count(DISTINCT id), sum(amount) FROM t") == [(12_000, 12_000, 35_997)]
    files = sql_literal(Lake(settings).parquet_glob("raw", "drops", "items"))
    groups = raw(settings, "drops", "items", f"SELECT DISTINCT file_name, row_group_id, row_group_num_rows FROM parquet_metadata({files})")
    assert [rows for _, _, rows in groups] == [12_000]  # one row group (writing many small ones costs far more)


def test_a_json_key_mostly_whole_numbers_is_typed_so_whichever_value_comes_first(tmp_path):
    lines = [{"id": "x1", "v": 0}, {"id": "", "v": 0}] + [{"id": i, "v": i} for i in range(1, 21)] + [{"id": "x2", "v": 99}]
    body = "".join(json.dumps(row) + "\n" for row in lines).encode()
    settings = landed_files(tmp_path, "drops", {"events": {"pattern": "*.jsonl"}}, {"a.jsonl": body}, quality={"max_bad_share": 0.5})
    result = ingest_source(open_run(settings), "drops")

    assert result.rows == {"events": 20}  # the whole numbers load, though a text key came first
    assert raw(settings, "drops", "events", "SELECT min(id), max(id), count(*) FROM t") == [(1, 20, 20)]
    aside = quarantine(settings, "drops", "events", "SELECT _line, _check, _column FROM q ORDER BY _line")
    assert aside == [(1, "key_type", "id"), (2, "key_missing", "id"), (23, "key_type", "id")]


def test_quarantined_json_rows_keep_every_key_of_every_row_nested_values_as_json(tmp_path):
    lines = [{"id": 1, "v": 1}, {"id": 1, "v": 2, "extra": {"n": [1, 2]}}, {"id": 1, "v": 3}]
    body = "".join(json.dumps(row) + "\n" for row in lines).encode()
    settings = landed_files(tmp_path, "drops", {"events": {"pattern": "*.jsonl"}}, {"a.jsonl": body})
    ingest_source(open_run(settings), "drops")

    assert raw(settings, "drops", "events", "SELECT id, v FROM t") == [(1, 3)]
    aside = quarantine(settings, "drops", "events", "SELECT _line, _check, v, extra FROM q ORDER BY _line")
    assert aside == [(1, "duplicate_key", "1", None), (2, "duplicate_key", "2", '{"n": [1, 2]}')]
