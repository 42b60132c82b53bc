"""A file too large to read whole is read in parts (ingest/file_parts.py) and loads exactly as it would read whole.

The oracle is the same project with room to read every file whole: raw, quarantine and each file's outcome must
be the same. The battery generates CSV files with what splits badly: quoted fields holding line ends, commas and
quotes, repeated keys far apart, missing and malformed keys, ragged rows, undecodable bytes, blank lines, a
column whose type changes half-way, numbers with leading zeros; JSONL files with broken lines, lines that are no
object, nested values, keys only some rows have, decimals and integers beyond 64 bits; and Parquet files of
repeated keys, one or two columns wide. `FILE_PARTS_SEEDS` runs more seeds.
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.sources import landed_files, quarantine, raw

SEEDS = range(int(os.environ.get("FILE_PARTS_SEEDS", "2")))
WHOLE_MB = 2000  # room to read every file of the battery whole
PARTS_MB = 1  # about 100 KB parts: every large file of the battery in several
TABLES = {
    "trips": {"pattern": "trips/*", "primary_key": "id"},
    "plain": {"pattern": "plain/*"},
    "shifts": {"pattern": "shifts/*", "primary_key": ["id", "shift"]},
    "events": {"pattern": "events/*", "primary_key": "id"},
}


def _note(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.08:
        return '"a note, with a comma"'
    if pick < 0.14:
        return '"two\nlines, ""quoted"""'
    if pick < 0.17:
        return '"three\r\nline\nnote"'
    return rng.choice(["plain", "ok", "é accent", "tab\tinside", ""]) + str(rng.randint(0, 9))


def _id(rng: random.Random, keys: int) -> str:
    pick = rng.random()
    if pick < 0.01:
        return ""  # key_missing
    if pick < 0.015:
        return "x" + str(rng.randint(0, 9))  # key_type
    return str(rng.randint(1, keys))


def _csv(seed: int, rows: int) -> bytes:
    rng = random.Random(seed)
    keys = rows // 3
    out = io.BytesIO()
    out.write(b"ID,Note,Amount,Code,At\n")
    for i in range(rows):
        late = i > rows // 2
        code = rng.choice(["A7", "007"]) if late and rng.random() < 0.05 else str(rng.randint(1, 999))
        amount = f"{rng.randint(0, 99999)}.{rng.randint(1, 9)}" if rng.random() > 0.02 else "n/a"
        at = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
        line = f"{_id(rng, keys)},{_note(rng)},{amount},{code},{at}\n".encode()
        pick = rng.random()
        if pick < 0.005:
            line = line.replace(b",", b",,", 1)  # a ragged row
        elif pick < 0.008:
            line = line.replace(b"plain", b"pl\xffin")  # an undecodable byte
        elif pick < 0.012:
            out.write(b"\n")  # a blank line
        out.write(line)
    return out.getvalue()


def _jsonl(seed: int, rows: int) -> bytes:
    """JSON lines: repeated, missing and text keys, broken lines, lines that are no object, blank lines, a value whose
    type changes half-way, nested objects, decimals and integers beyond 64 bits."""
    rng = random.Random(seed)
    out = io.BytesIO()
    for i in range(rows):
        pick = rng.random()
        if pick < 0.005:
            out.write(b'{"id": 3, "broken\n')
            continue
        if pick < 0.008:
            out.write(b"[1, 2]\n")
            continue
        if pick < 0.011:
            out.write(b"\n")
            continue
        key = rng.choice([None, "", "x" + str(i % 7)]) if pick < 0.03 else rng.randint(1, rows // 3)
        row = {"id": key, "note": rng.choice(["a", "b, c", "é", None])}
        if rng.random() < 0.3:
            row["meta"] = {"tags": [rng.randint(0, 3)], "deep": {"n": rng.random()}}
        if rng.random() < 0.05:
            row["big"] = 2**70 + rng.randint(0, 9)
        row["code"] = rng.choice(["A7", "007"]) if i > rows // 2 and rng.random() < 0.05 else rng.randint(1, 999)
        amount = f', "amount": {rng.randint(0, 9999)}.{rng.randint(0, 99):02d}}}'  # a decimal number, its scale kept
        out.write((json.dumps(row)[:-1] + amount).encode() + b"\n")
    return out.getvalue()


def _parquet(seed: int, rows: int, composite: bool = False) -> bytes:
    rng = random.Random(seed)
    extra = {"shift": [rng.choice([1, 2, 3, None]) for _ in range(rows)]} if composite else {}
    table = pa.table(
        {
            **extra,
            "id": [rng.randint(1, rows // 4) for _ in range(rows)],
            "v": [rng.random() for _ in range(rows)],
            "label": [rng.choice(["a", "b", None, "c d"]) for _ in range(rows)],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=rows // 3)
    return sink.getvalue()


def _load(tmp_path, name: str, files: dict[str, bytes], memory_mb: int):
    (tmp_path / name).mkdir()
    settings = landed_files(
        tmp_path / name, "drops", TABLES, files, max_file_memory_mb=memory_mb, batch_rows=1000, quality={"max_bad_share": 0.5}
    )
    result = ingest_source(open_run(settings), "drops")
    with sqlite3.connect(settings.meta_path) as con:
        outcomes = con.execute("SELECT path, status, rows, rows_quarantined, reason FROM landing_files ORDER BY 1").fetchall()
    return settings, result, outcomes


def _text(settings, table: str) -> list[tuple]:
    """Each raw row of `table`, every column as text, a value held in a variant column read from there."""
    columns = [c for (c,) in raw(settings, "drops", table, "SELECT column_name FROM (DESCRIBE t)")]
    base = [c for c in columns if not c.startswith("_dlt_") and "__v_" not in c]
    quoted = lambda name: '"' + name + '"'
    picked = []
    for c in sorted(base):
        variants = [f"CAST({quoted(v)} AS VARCHAR)" for v in columns if v.startswith(c + "__v_")]
        picked.append(f"coalesce({', '.join([f'CAST({quoted(c)} AS VARCHAR)', *variants])})")
    return sorted(raw(settings, "drops", table, f"SELECT {', '.join(picked)} FROM t"), key=repr)


def _quarantined(settings, table: str) -> list[tuple]:
    return sorted(quarantine(settings, "drops", table, "SELECT _source_file, _line, _check, _column FROM q"), key=repr)


def _quarantined_rows(settings, table: str) -> list[tuple]:
    """Each quarantined row whole (its values, check and place), column by column by name, a value held in a
    variant column read from there (a value's column follows its batch's type, and batches end elsewhere in a
    file read in parts); not its load."""
    names = [c for (c,) in quarantine(settings, "drops", table, "SELECT column_name FROM (DESCRIBE q)")]
    names = [c for c in names if c not in ("_dlt_load_id", "_quarantined_at")]
    rows = quarantine(settings, "drops", table, f"SELECT {', '.join(chr(34) + c + chr(34) for c in names)} FROM q")
    folded = []
    for row in rows:
        values: dict[str, str] = {}
        for name, value in zip(names, row, strict=True):
            if value is not None:  # a column that another file's quarantine lacks holds no value
                values[name.split("__v_")[0]] = str(value)
        folded.append(tuple(sorted(values.items())))
    return sorted(folded, key=repr)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_file_read_in_parts_loads_as_it_would_read_whole(tmp_path, seed):
    files = {
        "trips/a.csv": _csv(1000 + seed, 300),  # small: read whole in both projects, sharing keys with the large one
        "trips/b.csv": _csv(seed, 9000),  # about 450 KB: read in parts where a file may take 1 MB
        "plain/c.parquet": _parquet(seed, 60_000),
        "shifts/d.parquet": _parquet(seed, 60_000, composite=True),  # a two-column key, a quarter of it missing
        "events/e.jsonl": _jsonl(seed, 6000),  # about 600 KB: in parts of 64 KB where a file may take 1 MB
    }
    whole, whole_result, whole_outcomes = _load(tmp_path, "whole", files, WHOLE_MB)
    parts, parts_result, parts_outcomes = _load(tmp_path, "parts", files, PARTS_MB)

    assert [o[:4] for o in parts_outcomes] == [o[:4] for o in whole_outcomes]
    assert [o[1] for o in parts_outcomes] == ["loaded"] * 5, parts_outcomes
    in_parts = {o[0] for o in parts_outcomes if "read in parts" in (o[4] or "")}
    assert in_parts == {"trips/b.csv", "plain/c.parquet", "shifts/d.parquet", "events/e.jsonl"}, parts_outcomes
    assert not any("read in parts" in (o[4] or "") for o in whole_outcomes)
    assert parts_result.rows == whole_result.rows
    for table in ("trips", "plain", "shifts", "events"):
        assert _text(parts, table) == _text(whole, table)
        assert _quarantined_rows(parts, table) == _quarantined_rows(whole, table)
    checks = {check for _, _, check, _ in _quarantined(parts, "trips")}
    assert {"duplicate_key", "key_missing", "key_type", "csv", "encoding"} <= checks, checks
    assert {"duplicate_key", "key_missing"} <= {check for _, _, check, _ in _quarantined(parts, "shifts")}
    assert {"duplicate_key", "key_missing", "key_type", "json"} <= {check for _, _, check, _ in _quarantined(parts, "events")}
    assert not any((parts.data_dir / "run" / "parts").rglob("*.*")), "nothing held is left once the load took it"


def test_a_file_read_in_parts_is_rejected_whole_when_its_last_part_is_bad(tmp_path):
    good = ("ID,Note,Amount,Code,At\n" + "".join(f"{i},note {i},1.5,3,2025-01-01 00:00:00\n" for i in range(8000))).encode()
    bad = b",note,1.5,3,2025-01-01 00:00:00\n" * 9000  # more than half the rows (the share allowed here) keyless, at its end
    files = {"trips/big.csv": good + bad, "trips/next.csv": b"ID,Note,Amount,Code,At\n5,n,1.5,3,2025-01-01 00:00:00\n"}
    settings, result, outcomes = _load(tmp_path, "parts", files, PARTS_MB)

    assert [(o[0], o[1]) for o in outcomes] == [("trips/big.csv", "rejected"), ("trips/next.csv", "loaded")]
    assert "above quality.max_bad_share" in outcomes[0][4]
    assert raw(settings, "drops", "trips", "SELECT count(*) FROM t") == [(1,)]  # nothing of the rejected file
    assert not any((settings.data_dir / "run" / "parts").rglob("*.*"))


def test_a_file_that_cannot_be_read_in_parts_is_rejected_naming_the_size_to_split_it_to(tmp_path):
    lines = "".join(f'{{"id": {i}, "note": "{"n" * 60}"}}\n' for i in range(2000)).encode("utf-16")
    wide = ("ID,Note\n" + "".join(f"{i},{'n' * 60}\n" for i in range(3000))).encode("utf-16")
    tables = {"events": {"pattern": "events/*.jsonl", "encoding": "utf-16"}, "wide": {"pattern": "wide/*", "encoding": "utf-16"}}
    settings = landed_files(tmp_path, "drops", tables, {"events/a.jsonl": lines, "wide/b.csv": wide}, max_file_memory_mb=1)
    result = ingest_source(open_run(settings), "drops")

    rejected = sorted(w for w in result.warnings if "rejected" in w)
    assert len(rejected) == 2, result.warnings
    assert rejected[0].startswith(
        f"drops.events: file events/a.jsonl rejected: too large to read: a jsonl file of {len(lines) / 1000:.1f} KB"
    )
    assert "and a jsonl file in utf-16 is not read in parts. Split it into files of at most about 104.9 KB" in rejected[0]
    assert "a CSV file in utf-16 is not read in parts" in rejected[1] and "or raise max_file_memory_mb" in rejected[1]
