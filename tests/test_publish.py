"""Publishing: a manifest switch makes a new version visible at once; old versions are pruned."""

from __future__ import annotations

import json

import duckdb
import pytest

from core.errors import PlatformError
from core.lake import Lake
from core.run_context import open_run
from publish.marts import MANIFEST, marts_folder, publish_marts
from publish.reader import connect_published, current_version
from publish.staging import current_staging
from publish.versions import table_folder
from tests.support.project import source_rows
from transform.lineage import personal_columns


def test_each_publish_is_a_complete_new_version_naming_the_files_of_unchanged_marts(built, built_copy):
    settings, summary = built_copy, built[1]
    before = current_version(settings)
    result = publish_marts(open_run(settings), [f"marts.{name}" for name in summary.published_rows], personal=personal_columns(settings))
    after = current_version(settings)
    assert after.version == result.version != before.version
    assert after.rows == before.rows == summary.published_rows
    assert after.files == before.files  # the warehouse did not change: no mart is written again
    for files in after.files.values():
        assert Lake(settings).fs.glob(files)
    manifest = json.loads(Lake(settings).read_text(f"{marts_folder(settings)}/{MANIFEST}"))
    assert set(manifest["tables"]) == set(summary.published_rows) >= {"daily_revenue", "dim_customers", "fct_orders"}


def test_old_versions_are_pruned_but_the_folders_the_current_one_names_stay(built, built_copy):
    settings, summary = built_copy, built[1]
    for _ in range(settings.run.publish_keep_versions + 2):
        publish_marts(open_run(settings), [f"marts.{name}" for name in summary.published_rows], personal=personal_columns(settings))
    records = [url for url in Lake(settings).files(f"{marts_folder(settings)}/_versions") if url.endswith(".json")]
    assert len(records) == settings.run.publish_keep_versions and records[-1].endswith(f"/{current_version(settings).version}.json")
    versions = Lake(settings).subfolders(f"{marts_folder(settings)}/fct_orders")
    assert versions == [table_folder(current_version(settings).files["fct_orders"])]  # unchanged: the one folder every kept version names
    con, published = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] == published.rows["fct_orders"]


def test_no_leftover_temporary_manifests(built):
    settings, _ = built
    assert not [p for p in Lake(settings).files(marts_folder(settings)) if p.endswith(".tmp")]


def test_environments_publish_to_their_own_folder(built):
    settings, _ = built
    assert marts_folder(settings).endswith("/curated/marts")
    assert marts_folder(settings, "dev").endswith("/curated/marts__dev")
    assert current_version(settings, "dev") is None
    with pytest.raises(PlatformError, match="Nothing has been published for dev"):
        connect_published(settings, "dev")
    with pytest.raises(ValueError):
        marts_folder(settings, "dev; drop")


def test_published_marts_have_exactly_the_warehouse_columns_and_fct_orders_is_split_by_month(built):
    settings, _ = built
    con, published = connect_published(settings, role="operator")  # unmasked: every column as published
    with con, duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse_con:
        for name in published.files:
            columns = [row[0] for row in con.execute(f"DESCRIBE marts.{name}").fetchall()]
            expected = [row[0] for row in warehouse_con.execute(f"DESCRIBE marts.{name}").fetchall()]
            assert columns == expected, name
        months = con.execute("SELECT DISTINCT strftime(order_date, '%Y-%m') FROM marts.fct_orders").fetchall()
    folders = Lake(settings).subfolders(table_folder(published.files["fct_orders"]))
    assert sorted(f.rsplit("/", 1)[-1] for f in folders) == sorted(f"order_month={m}" for (m,) in months)


def test_validated_staging_is_exported_to_the_staging_layer(built):
    settings, _ = built
    staged = current_staging(open_run(settings), "shop")
    assert set(staged.files) == set(settings.sources["shop"].tables)
    for table in staged.files:
        assert staged.rows[table] == source_rows(settings, f"SELECT count(*) FROM {table}")[0][0], table
    assert staged.files["orders"].startswith(str(settings.lake_root / "staging" / "shop" / "orders" / "version="))
