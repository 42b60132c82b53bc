"""Published version folders after faults: a clock set back never makes pruning take the current version
(or the one current a moment ago), and the folders a killed publish left are removed by the next publish."""

from __future__ import annotations

import contextlib
import datetime as dt
import types
from pathlib import Path

import duckdb

from core.lake import Lake
from publish import versions
from publish.versions import Table, read_version, write_version


class _Clock(dt.datetime):
    shift = dt.timedelta(0)

    @classmethod
    def now(cls, tz=None):
        return dt.datetime.now(tz) + cls.shift


def _publish(lake: Lake, folder: str, con: duckdb.DuckDBPyConnection) -> str:
    """A version of changed content: each publish writes a folder of its own (an unchanged table would name the last one's)."""
    con.execute("INSERT INTO orders SELECT max(order_id) + 1 FROM orders")
    version, _ = write_version(lake, con, folder, [Table("orders", "orders")], extra={}, keep=2)
    return version


def _kept(folder: str) -> list[str]:
    return sorted(path.name.removeprefix("version=") for path in Path(folder, "orders").iterdir())


def test_after_the_clock_goes_back_pruning_keeps_the_current_and_the_previous_version(settings, monkeypatch):
    lake, folder = Lake(settings), Lake(settings).url("curated", "marts")
    monkeypatch.setattr(versions, "dt", types.SimpleNamespace(datetime=_Clock, timedelta=dt.timedelta, UTC=dt.UTC))
    with contextlib.closing(duckdb.connect()) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS order_id FROM range(3)")
        published = [_publish(lake, folder, con) for _ in range(2)]
        _Clock.shift = -dt.timedelta(days=2)  # the clock goes back
        published += [_publish(lake, folder, con) for _ in range(2)]
    assert read_version(lake, folder).version == published[-1]
    assert _kept(folder) == published[-2:]  # the current one and the one current a moment ago


def test_a_version_folder_left_by_a_killed_publish_is_removed_by_the_next_publish(settings):
    lake, folder = Lake(settings), Lake(settings).url("curated", "marts")
    with contextlib.closing(duckdb.connect()) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS order_id FROM range(3)")
        first = _publish(lake, folder, con)
        orphan = Path(folder, "orders", "version=29990101T000000000000Z-dead00")
        orphan.mkdir()
        (orphan / "data.parquet").write_bytes(b"")  # what a publish killed while copying leaves
        empty = Path(folder, "orders", "version=20000101T000000000000Z-dead01")
        empty.mkdir()
        (empty / "data.parquet").write_bytes(b"")
        second = _publish(lake, folder, con)
    assert not orphan.exists() and not empty.exists()
    assert _kept(folder) == [first, second]
