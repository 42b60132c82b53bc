"""Raw views before any data: declared tables get empty views with their columns, undeclared ones are skipped."""

from __future__ import annotations

import contextlib
import logging

from core import warehouse
from core.run_context import open_run
from tests.support.project import settings_for
from tests.support.sources import settings_with_sources
from transform.context import open_context
from transform.raw_views import create_raw_views, declared_columns

SHOP_TABLES = ("customers", "products", "orders", "order_items", "payments")


def test_declared_tables_without_parquet_get_empty_views_and_sqlmesh_still_evaluates(tmp_path):
    settings = settings_for(tmp_path / "data")  # nothing ingested yet
    declared = declared_columns(settings.project_dir)
    settings.data_dir.mkdir(parents=True)
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        views = create_raw_views(con, open_run(settings))
        assert views == [f"raw_shop.{t}" for t in SHOP_TABLES]
        for view in views:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
            columns = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})").fetchall())
            assert columns == {name: kind.replace("TEXT", "VARCHAR") for name, kind in declared[view].items()}, view
            assert columns["_deleted"] == "BOOLEAN"

    context = open_context(settings)
    try:
        rows = context.evaluate("staging.stg_shop__orders", start="2025-01-01", end="2025-01-02", execution_time="2025-01-03")
    finally:
        context.close()
    assert len(rows) == 0 and "is_deleted" in rows.columns


def test_a_files_source_before_its_first_drop_is_skipped_with_a_notice(tmp_path, caplog):
    drops = {"kind": "files", "tables": {"refunds": {"pattern": "refunds/*.csv", "primary_key": "refund_id"}}}
    settings = settings_with_sources(tmp_path, {"partner": drops})  # a project with no external_models.yaml
    with caplog.at_level(logging.INFO, logger="duckstack.transform"), contextlib.closing(warehouse.connect()) as con:
        assert create_raw_views(con, open_run(settings)) == []
        schemas = {row[0] for row in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert "raw_partner" in schemas
    assert "no raw data for raw_partner.refunds yet and no columns declared in external_models.yaml" in caplog.text
