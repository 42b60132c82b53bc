"""Values in landed files reach raw as the numbers and instants they say, or as the text that landed: never changed.

A generated battery of CSV files (delimiters, encodings, quoting, ordinary and awkward numbers in every
column) read as the files source reads them; then whole ingests: a JSON number beyond 64 bits, a
later file's leading zeros against a column loaded as numbers, timestamps finer than a microsecond,
and what the run summary says."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import time
from decimal import Decimal

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.run_context import open_run
from ingest.exact_values import may_change
from ingest.file_readers import read_file
from ingest.pipeline import ingest_source
from tests.support.sources import landed_files, raw

SEEDS = range(int(os.environ.get("EXACT_NUMBER_SEEDS", "60")))


def _plain(rng: random.Random) -> str:
    """A number every reader holds exactly: at most 15 digits, no leading zero or plus sign."""
    if rng.random() < 0.5:
        return str(rng.randint(-(10**12), 10**12))
    return f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 6)}f}"


# kind -> a value that a 64-bit integer or double would change (or, for python_float, one they would not)
AWKWARD = {
    "leading_zero": lambda rng: "0" + str(rng.randint(0, 10 ** rng.randint(1, 12))),
    "plus": lambda rng: "+" + str(rng.randint(10**9, 10**12)),
    "beyond_int64": lambda rng: str(rng.randint(2**63, 10**30)) if rng.random() < 0.5 else str(-rng.randint(2**63 + 1, 10**30)),
    "wide_decimal": lambda rng: f"{rng.randint(1, 10**12)}.{rng.randint(10**9, 10**10 - 1)}{rng.randint(1, 9)}",
    "python_float": lambda rng: repr(rng.random() * 10 ** rng.randint(-3, 8)),  # 17 digits that survive a double
}


def _battery(seed: int) -> tuple[str, str, list[str], list[list[str]]]:
    """(delimiter, encoding, header, rows): some columns plain, some with an awkward value or more among them."""
    rng = random.Random(seed)
    delimiter = rng.choice([",", ";", "\t", "|"])
    encoding = rng.choice(["utf-8", "utf-8", "latin-1", "utf-16"])
    kinds = [rng.choice(["plain", "plain", *AWKWARD]) for _ in range(rng.randint(1, 5))]
    rows = []
    for _ in range(rng.randint(1, 40)):
        row = []
        for kind in kinds:
            value = _plain(rng) if kind == "plain" or rng.random() < 0.7 else AWKWARD[kind](rng)
            row.append("" if rng.random() < 0.05 else value)
        rows.append(row)
    for column, kind in enumerate(kinds):  # each awkward column holds its kind at least once
        if kind != "plain":
            rows[rng.randrange(len(rows))][column] = AWKWARD[kind](rng)
    return delimiter, encoding, ["id", *[f"c{n}_{kind}" for n, kind in enumerate(kinds)]], [[str(i), *r] for i, r in enumerate(rows)]


def _write(tmp_path, seed: int, delimiter: str, encoding: str, header: list[str], rows: list[list[str]]):
    text = io.StringIO()
    quoting = random.Random(seed).choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
    writer = csv.writer(text, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    writer.writerows([header, *rows])
    path = tmp_path / f"battery-{seed}.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def _says(value, text: str) -> bool:
    """Whether a value read from a field is the number (or the text) the field says."""
    if isinstance(value, str):
        return value == text
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not _kept_as_text(text) and Decimal(text) == value
    return not _kept_as_text(text) and Decimal(repr(value)) == Decimal(text)


def _kept_as_text(text: str) -> bool:
    """As DuckDB's CSV reader: a number with a leading zero (not 0 itself, not 0.5) or a plus sign is text."""
    return re.match(r"^(0[0-9]|\+)", text) is not None


@pytest.mark.parametrize("seed", SEEDS)
def test_every_number_read_from_a_csv_file_is_the_number_or_the_text_it_landed_as(tmp_path, seed):
    delimiter, encoding, header, rows = _battery(seed)
    path = _write(tmp_path, seed, delimiter, encoding, header, rows)
    batches = list(read_file(str(path), "csv", fs=fsspec.filesystem("file"), batch_rows=1000, delimiter=delimiter, encoding=encoding))
    table = batches[0].rows
    notes = [note for batch in batches for note in batch.notes]
    assert table.num_rows == len(rows) and not batches[0].rejects
    for position, name in enumerate(header):
        values = table[name].to_pylist()
        texts = [row[position] for row in rows]
        for line, (value, text) in enumerate(zip(values, texts, strict=True), start=2):
            if text == "":
                assert value in (None, ""), (seed, name, line)
            else:
                assert _says(value, text), (seed, name, line, value, text)
        kind = name.partition("_")[2]
        if kind in ("", "plain", "python_float"):  # numbers that survive keep a number type
            assert not isinstance(next((v for v in values if v not in (None, "")), 0), str), (seed, name)
        rounded = [n for n, (v, t) in enumerate(zip(values, texts, strict=True)) if isinstance(v, str) and t and not _survives(t)]
        said = [note for note in notes if f"column {name!r} " in note]
        if kind in ("beyond_int64", "wide_decimal") and not any(_kept_as_text(t) for t in texts):
            at = "" if batches[0].lines is None else f", the first at line {rounded[0] + 2}"  # lines unknown in UTF-16
            assert len(said) == 1 and f"would round{at}: kept as text" in said[0], (seed, name, notes)
        elif kind not in ("beyond_int64", "wide_decimal"):
            assert not said, (seed, name, notes)


def _survives(text: str) -> bool:
    return Decimal(repr(float(text))) == Decimal(text)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_quick_scan_finds_every_file_whose_numbers_a_reader_would_change(tmp_path, seed):
    delimiter, encoding, header, rows = _battery(seed)
    path = _write(tmp_path, seed, delimiter, encoding, header, rows)
    awkward = any(_kept_as_text(t) or not _survives(t) for row in rows for t in row[1:] if t)
    if awkward:
        assert may_change(path.read_bytes(), delimiter, encoding), seed


def test_a_file_of_plain_numbers_needs_no_second_look():
    data = b"id,amount,at,note\n" + b"".join(b"%d,%d.%02d,2025-03-01 09:05:00,note 0%d\n" % (i, i * 7, i % 100, i) for i in range(1, 2000))
    assert not may_change(data, ",", "utf-8")
    assert may_change(data + b"2001,007.5,2025-03-01 09:05:00,x\n", ",", "utf-8")
    assert may_change(data + b"2001,12345678901234567,2025-03-01 09:05:00,x\n", ",", "utf-8")


def _land(landing, relative: str, content: bytes, age: float = 600) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (time.time() - age, time.time() - age))


def test_a_json_number_beyond_64_bits_loads_as_its_text_and_blocks_no_table(tmp_path):
    files = {
        "other/a.csv": b"id,v\n1,2\n",
        "events/a.jsonl": b'{"id": 1, "big": 12345678901234567890, "dec": 0.1234567890123456789, "n": {"deep": -98765432109876543210}}\n'
        b'{"id": 2, "big": 5, "dec": 1.5, "n": {"deep": 7}}\n',
    }
    settings = landed_files(tmp_path, "exact", {"events": {"pattern": "events/*"}, "other": {"pattern": "other/*"}}, files)
    landing = settings.landing_path("exact")
    result = ingest_source(open_run(settings), "exact")
    assert result.rows == {"events": 2, "other": 1}
    assert raw(settings, "exact", "other", "SELECT id, v FROM t") == [(1, 2)]
    assert raw(settings, "exact", "events", "SELECT id, big, dec, n__deep FROM t ORDER BY id") == [
        (1, "12345678901234567890", "0.1234567890123456789", "-98765432109876543210"),
        (2, "5", "1.5", "7"),
    ]
    # a later file's big number against a column loaded as numbers: its variant column holds the text
    _land(landing, "events/b.jsonl", b'{"id": 3, "plain": 4}\n')
    ingest_source(open_run(settings), "exact")
    _land(landing, "events/c.jsonl", b'{"id": 4, "plain": 99999999999999999999}\n{"id": 5, "plain": 6}\n', age=300)
    later = ingest_source(open_run(settings), "exact")
    assert raw(settings, "exact", "events", "SELECT id, plain, plain__v_text FROM t WHERE id >= 3 ORDER BY id") == [
        (3, 4, None),
        (4, None, "99999999999999999999"),
        (5, 6, None),
    ]
    assert any("column 'plain' is bigint, got 1 text value(s), the first at line 1" in w for w in later.warnings), later.warnings
    # a new column typed by its first value (as dlt types it): a later big number of the same file goes to its variant
    _land(landing, "events/d.jsonl", b'{"id": 6, "fresh": 1}\n{"id": 7, "fresh": 99999999999999999999}\n', age=200)
    newest = ingest_source(open_run(settings), "exact")
    assert newest.rows == {"events": 2} and not [w for w in newest.warnings if "rejected" in w]
    assert raw(settings, "exact", "events", "SELECT id, fresh, fresh__v_text FROM t WHERE id >= 6 ORDER BY id") == [
        (6, 1, None),
        (7, None, "99999999999999999999"),
    ]


def test_csv_numbers_that_would_change_stay_text_and_the_run_summary_names_the_rounded_ones(tmp_path):
    first = {"accounts/1.csv": b"id,postcode,phone,balance,ratio\n1,94105,+14155550100,12.5,0.25\n2,10001,+33612345678,7,0.5\n"}
    settings = landed_files(tmp_path, "exact", {"accounts": {"pattern": "accounts/*"}}, first)
    landing = settings.landing_path("exact")
    first = ingest_source(open_run(settings), "exact")
    assert raw(settings, "exact", "accounts", "SELECT id, postcode, phone, balance FROM t ORDER BY id") == [
        (1, 94105, "+14155550100", 12.5),
        (2, 10001, "+33612345678", 7.0),
    ]
    assert not [w for w in first.warnings if "accounts" in w and "no pandera" not in w], first.warnings
    # the postcode column loaded as numbers: a later postcode with a leading zero is not cast to one
    _land(
        landing,
        "accounts/2.csv",
        b"id,postcode,phone,balance,ratio\n3,02134,+442071234567,99999999999999999.99,0.1\n4,60601,+12125550100,3,0.75\n",
        age=300,
    )
    later = ingest_source(open_run(settings), "exact")
    assert raw(
        settings, "exact", "accounts", "SELECT id, postcode, postcode__v_text, balance, balance__v_text FROM t WHERE id > 2 ORDER BY id"
    ) == [(3, None, "02134", None, "99999999999999999.99"), (4, 60601, None, 3.0, None)]
    messages = [w for w in later.warnings if "accounts" in w]
    assert any(
        "file accounts/2.csv: column 'balance' holds numbers that a 64-bit float would round, the first at line 2" in w for w in messages
    ), messages
    assert any("column 'postcode' is bigint, got 1 text value(s), the first at line 2" in w for w in messages), messages
    assert not any("99999999999999999" in w or "02134" in w for w in messages)  # no row value in a message


def _parquet(columns: dict) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()


def test_timestamps_finer_than_a_microsecond_stay_text_and_block_no_table(tmp_path):
    nanos = [1_740_823_200_000_001_000, 1_740_823_200_000_002_000]  # whole microseconds
    files = {
        "other/a.csv": b"id,v\n1,2\n",
        "ticks/a.csv": b"id,at\n1,2025-03-01 10:00:00.000001000\n2,2025-03-01 10:00:00.123456789\n",
        "fills/whole.parquet": _parquet({"id": [1, 2], "at": pa.array(nanos, pa.timestamp("ns", "UTC"))}),
        "fills/fine.parquet": _parquet({"id": [3, 4], "at": pa.array([nanos[0], nanos[1] + 7], pa.timestamp("ns", "UTC"))}),
    }
    tables = {"ticks": {"pattern": "ticks/*"}, "fills": {"pattern": "fills/*"}, "other": {"pattern": "other/*"}}
    settings = landed_files(tmp_path, "exact", tables, files)
    result = ingest_source(open_run(settings), "exact")
    assert result.rows == {"ticks": 2, "fills": 4, "other": 1}
    assert raw(settings, "exact", "ticks", 'SELECT id, "at" FROM t ORDER BY id') == [
        (1, "2025-03-01T10:00:00.000001000"),
        (2, "2025-03-01T10:00:00.123456789"),
    ]
    assert raw(settings, "exact", "fills", 'SELECT id, epoch_us("at"), at__v_text FROM t ORDER BY id') == [
        (1, nanos[0] // 1000, None),
        (2, nanos[1] // 1000, None),
        (3, None, "2025-03-01T10:00:00.000001000+0000"),
        (4, None, "2025-03-01T10:00:00.000002007+0000"),
    ]
    messages = [w for w in result.warnings if "holds timestamps" in w]
    assert messages == [
        "exact.ticks: file ticks/a.csv: column 'at' holds timestamps finer than a microsecond, the first at line 3: kept as text, "
        "as it landed",
        "exact.fills: file fills/fine.parquet: column 'at' holds timestamps finer than a microsecond, the first at line 2: kept as "
        "text, as it landed",
    ]


def test_decimals_and_doubles_of_one_column_meet_without_rounding_either(tmp_path):
    """Raw's view reads every file of a table as one: a double in a later file of a DECIMAL column would make the
    whole column DOUBLE, and the decimals rounded, on every read. Doubles that a DECIMAL holds are cast to it;
    decimals that a double would round go to the variant column of a DOUBLE column."""
    wide = [Decimal("0.123456789012345678"), Decimal("12345678901234567890.123456789012345678")]
    files = {
        "exact/1.parquet": _parquet({"id": [1, 2], "amount": pa.array(wide, pa.decimal128(38, 18))}),
        "exact/2.csv": b"id,amount\n3,2.5\n4,0.1\n5,1e+25\n",
        "floats/1.csv": b"id,amount\n1,0.5\n",
        "floats/2.parquet": _parquet({"id": [2, 3], "amount": pa.array([Decimal("1.25"), wide[0]], pa.decimal128(38, 18))}),
    }
    settings = landed_files(tmp_path, "mixed", {"exact": {"pattern": "exact/*"}, "floats": {"pattern": "floats/*"}}, files)
    first = ingest_source(open_run(settings), "mixed")
    assert first.rows == {"exact": 5, "floats": 3}
    assert raw(settings, "mixed", "exact", "SELECT id, amount::VARCHAR, amount__v_double FROM t ORDER BY id") == [
        (1, "0.123456789012345678", None),
        (2, "12345678901234567890.123456789012345678", None),
        (3, "2.500000000000000000", None),
        (4, "0.100000000000000000", None),
        (5, None, 1e25),  # more integer digits than DECIMAL(38,18) holds
    ]
    assert raw(settings, "mixed", "exact", "SELECT column_type FROM (DESCRIBE t) WHERE column_name = 'amount'") == [("DECIMAL(38,18)",)]
    assert raw(settings, "mixed", "floats", "SELECT id, amount, amount__v_decimal::VARCHAR FROM t ORDER BY id") == [
        (1, 0.5, None),
        (2, 1.25, None),
        (3, None, "0.123456789012345678"),
    ]
    # in a later run too: the column's precision and scale come from what raw holds
    _land(settings.landing_path("mixed"), "exact/3.csv", b"id,amount\n6,7.75\n", age=100)
    later = ingest_source(open_run(settings), "mixed")
    assert later.rows == {"exact": 1}
    assert raw(settings, "mixed", "exact", "SELECT amount::VARCHAR FROM t WHERE id = 6") == [("7.750000000000000000",)]
    assert any("column 'amount' is decimal(38,18), got 1 double value(s)" in w for w in first.warnings), first.warnings


def test_a_later_files_values_that_a_cast_would_change_go_to_the_variant_column(tmp_path):
    """A cast that succeeds can still change a value: 2 as a bool is true, 10:30 on a day as a date is the day."""
    files = {
        "flags/1.csv": b"id,active\n1,true\n2,false\n",
        "flags/2.csv": b"id,active\n3,1\n4,2\n5,0\n",
        "days/1.csv": b"id,day\n1,2025-01-01\n",
        "days/2.csv": b"id,day\n2,2025-01-02 10:30:00\n3,2025-01-03 00:00:00\n",
    }
    settings = landed_files(tmp_path, "casts", {"flags": {"pattern": "flags/*"}, "days": {"pattern": "days/*"}}, files)
    result = ingest_source(open_run(settings), "casts")
    assert result.rows == {"flags": 5, "days": 3}
    assert raw(settings, "casts", "flags", "SELECT id, active, active__v_bigint FROM t ORDER BY id") == [
        (1, True, None),
        (2, False, None),
        (3, True, None),
        (4, None, 2),
        (5, False, None),
    ]
    assert raw(settings, "casts", "days", "SELECT id, day::VARCHAR, day__v_timestamp::VARCHAR FROM t ORDER BY id") == [
        (1, "2025-01-01", None),
        (2, None, "2025-01-02 10:30:00+00"),
        (3, "2025-01-03", None),
    ]


def test_a_parquet_decimal_wider_than_38_digits_stays_text_as_it_landed(tmp_path):
    """DuckDB reads a Parquet decimal of more than 38 digits back as doubles that are not its values (0.5 came back
    as 8388608.0): such a column is kept as its text, and a later file's narrower decimals join it as text."""
    wide = [Decimal("1234567890123456789012345678901234567890.0123456789"), Decimal("0.5"), None]
    files = {
        "wide/1.parquet": _parquet({"id": [1, 2, 3], "amount": pa.array(wide, pa.decimal256(50, 10))}),
        "wide/2.parquet": _parquet({"id": [4], "amount": pa.array([Decimal("1.25")], pa.decimal128(10, 2))}),
    }
    settings = landed_files(tmp_path, "exact", {"wide": {"pattern": "wide/*"}}, files)
    result = ingest_source(open_run(settings), "exact")
    assert result.rows == {"wide": 4}
    loaded = raw(settings, "exact", "wide", "SELECT id, amount, typeof(amount) FROM t ORDER BY id")
    assert [(row[0], None if row[1] is None else Decimal(row[1]), row[2]) for row in loaded] == [
        (1, wide[0], "VARCHAR"),
        (2, wide[1], "VARCHAR"),
        (3, None, "VARCHAR"),
        (4, Decimal("1.25"), "VARCHAR"),
    ]
    assert [w for w in result.warnings if "digits" in w] == [
        "exact.wide: file wide/1.parquet: column 'amount' holds decimals of 50 digits, more than raw's 38: kept as text, as it landed"
    ]
