"""Publish what changed: a table whose content is the same as in the current version is not written again (the
new version names the files it already has), a changed one is written once, and pruning, orphan clean-up and
readers of every retained version keep working with files that several versions name."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import duckdb
import pytest

from core.erasures import TOMBSTONE
from core.lake import Lake
from core.privacy import PersonalColumn
from core.run_context import open_run
from pipeline import stages
from pipeline.erasure import erase
from publish.marts import marts_folder
from publish.reader import current_version
from publish.versions import Table, read_sql, read_version, remove_orphans, table_folder, write_version
from tests.support.project import source_rows

TABLES = [Table("orders", "orders", personal={}), Table("customers", "customers", personal={})]


@pytest.fixture
def lake_con(settings):
    with contextlib.closing(duckdb.connect()) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS order_id, range * 10 AS amount FROM range(100)")
        con.execute("CREATE TABLE customers AS SELECT range AS customer_id, 'name ' || range AS name FROM range(20)")
        yield Lake(settings), Lake(settings).url("curated", "marts"), con


def _publish(lake: Lake, folder: str, con, tables=TABLES, keep: int = 3) -> str:
    return write_version(lake, con, folder, tables, extra={}, keep=keep)[0]


def _read(lake: Lake, folder: str, version: str, table: str) -> list[tuple]:
    with contextlib.closing(lake.attach(duckdb.connect())) as con:
        return sorted(con.execute(read_sql(read_version(lake, folder, version), table)).fetchall())


def test_an_unchanged_table_is_not_written_again_and_a_change_that_keeps_the_row_count_is(lake_con):
    lake, folder, con = lake_con
    first = _publish(lake, folder, con)
    con.execute("UPDATE orders SET amount = amount + 1 WHERE order_id = 7")  # same row count, one value changed
    second = _publish(lake, folder, con)
    con.execute("UPDATE orders SET amount = CASE order_id WHEN 1 THEN 20 WHEN 2 THEN 10 ELSE amount END")  # two values swapped
    third = _publish(lake, folder, con)
    versions = {v: read_version(lake, folder, v) for v in (first, second, third)}
    assert [table_folder(versions[v].files["orders"]).endswith(f"/orders/version={v}") for v in (first, second, third)] == [True] * 3
    assert {versions[v].files["customers"] for v in (first, second, third)} == {versions[first].files["customers"]}
    assert len(list(Path(folder, "customers").iterdir())) == 1  # written once, named by all three
    assert (7, 71) in _read(lake, folder, second, "orders") and (7, 70) in _read(lake, folder, first, "orders")
    assert _read(lake, folder, third, "orders")[1:3] == [(1, 20), (2, 10)]
    assert _read(lake, folder, third, "customers") == sorted(con.execute("SELECT * FROM customers").fetchall())
    fourth = _publish(lake, folder, con)  # nothing changed: the new version names the third's files
    assert read_version(lake, folder, fourth).files == versions[third].files


def test_a_new_or_changed_column_or_type_is_written_again(lake_con):
    lake, folder, con = lake_con
    first = _publish(lake, folder, con)
    con.execute("ALTER TABLE customers RENAME COLUMN name TO full_name")
    second = _publish(lake, folder, con)
    con.execute("ALTER TABLE orders ALTER amount TYPE DOUBLE")
    third = _publish(lake, folder, con)
    files = [read_version(lake, folder, v).files for v in (first, second, third)]
    assert files[0]["customers"] != files[1]["customers"] == files[2]["customers"]
    assert files[0]["orders"] == files[1]["orders"] != files[2]["orders"]


def test_each_version_records_its_own_personal_columns_over_shared_files(lake_con):
    lake, folder, con = lake_con
    first = _publish(lake, folder, con)
    tag = PersonalColumn("hash", ("shop.customers.name",))
    second = _publish(lake, folder, con, [TABLES[0], Table("customers", "customers", personal={"name": tag})])
    old, new = read_version(lake, folder, first), read_version(lake, folder, second)
    assert old.files == new.files
    assert old.personal["customers"] == {} and new.personal["customers"] == {"name": tag}


def test_files_that_are_missing_or_damaged_are_written_again_not_named(lake_con):
    lake, folder, con = lake_con
    first = _publish(lake, folder, con)
    Path(read_version(lake, folder, first).files["customers"]).write_bytes(b"")  # a damaged shared file
    for path in Path(table_folder(read_version(lake, folder, first).files["orders"])).glob("*.parquet"):
        path.unlink()
    second = _publish(lake, folder, con)
    files = read_version(lake, folder, second).files
    assert all(table_folder(files[name]).endswith(f"version={second}") for name in ("orders", "customers"))
    assert _read(lake, folder, second, "customers") == sorted(con.execute("SELECT * FROM customers").fetchall())


def test_pruning_keeps_every_folder_a_kept_version_names(lake_con):
    lake, folder, con = lake_con
    published = []
    for step in range(5):  # orders change every time, customers never
        con.execute(f"UPDATE orders SET amount = amount + 1 WHERE order_id = {step}")
        published.append(_publish(lake, folder, con, keep=2))
    assert sorted(p.stem for p in Path(folder, "_versions").iterdir()) == published[-2:]
    assert sorted(p.name for p in Path(folder, "orders").iterdir()) == [f"version={v}" for v in published[-2:]]
    assert [p.name for p in Path(folder, "customers").iterdir()] == [f"version={published[0]}"]  # named by both kept versions
    for version in published[-2:]:
        assert _read(lake, folder, version, "customers") == sorted(con.execute("SELECT * FROM customers").fetchall())
        assert len(_read(lake, folder, version, "orders")) == 100


def test_orphan_clean_up_leaves_the_folders_the_current_version_names(lake_con):
    lake, folder, con = lake_con
    first = _publish(lake, folder, con)
    con.execute("UPDATE orders SET amount = 0 WHERE order_id = 1")
    second = _publish(lake, folder, con)
    shared = Path(folder, "customers", f"version={first}")
    (shared / "extra.parquet").write_bytes(b"")  # an empty file in a folder the current version names
    orphan = Path(folder, "customers", "version=29990101T000000000000Z-dead00")
    orphan.mkdir()
    removed = remove_orphans(lake, folder)
    assert [Path(r).name for r in removed] == [orphan.name]
    assert shared.exists() and read_version(lake, folder).version == second
    assert table_folder(read_version(lake, folder).files["customers"]).endswith(f"version={first}")


def _records(settings) -> list:
    lake, folder = Lake(settings), marts_folder(settings)
    return [read_version(lake, folder, Path(url).stem) for url in lake.files(f"{folder}/_versions") if url.endswith(".json")]


def test_an_erasure_rewrites_shared_files_once_and_every_kept_version_reads_them_erased(built_copy):
    settings = built_copy
    stages.publish(open_run(settings), force=True)  # a second version of the same marts and staging: it names the first's files
    first, second = _records(settings)
    assert first.files == second.files
    [(customer,)] = source_rows(settings, "SELECT max(id) FROM customers WHERE deleted_at IS NULL")
    files = Lake(settings).fs.glob(table_folder(first.files["dim_customers"]) + "/*.parquet")
    with contextlib.closing(duckdb.connect()) as con:
        held = con.execute("SELECT count(*) FROM read_parquet(?) WHERE customer_id = ?", [files, customer]).fetchone()[0]

    result = erase(settings, "shop.customers", str(customer))

    assert held == 1 and result.rewritten["published rows"] >= held
    versions = _records(settings)
    assert [v.version for v in versions] == [first.version, second.version, current_version(settings).version]
    with contextlib.closing(Lake(settings).attach(duckdb.connect())) as con:
        for version in versions:
            sql = f"SELECT customer_name FROM ({read_sql(version, 'dim_customers')}) WHERE customer_id = ?"
            assert con.execute(sql, [customer]).fetchall() == [(TOMBSTONE,)], version.version
            assert con.execute(f"SELECT count(*) FROM ({read_sql(version, 'fct_orders')})").fetchone()[0] == version.rows["fct_orders"]


def test_a_shared_folder_that_is_lost_is_noticed_and_published_again(built_copy):
    settings = built_copy
    stages.publish(open_run(settings), force=True)
    current = current_version(settings)
    lost = table_folder(current.files["daily_revenue"])
    assert not lost.endswith(current.version)  # an older version's folder, named by the current one
    shutil.rmtree(lost)
    assert "missing for daily_revenue" in stages.publish_reason(open_run(settings))
    again = stages.publish(open_run(settings))
    fresh = current_version(settings)
    assert again.version == fresh.version != current.version and table_folder(fresh.files["daily_revenue"]).endswith(fresh.version)
    assert fresh.files["fct_orders"] == current.files["fct_orders"]  # the marts that are intact are still not written again
    assert stages.publish_reason(open_run(settings)) is None
