"""Ingestion: every table lands in the raw layer as Parquet, incrementally, with load ids."""

from __future__ import annotations

import duckdb

from core.run_context import open_run
from demo.day import advance_day
from demo.shop import generate
from ingest.pipeline import ingest_source
from tests.support.project import source_rows

TABLES = ("customers", "products", "orders", "order_items", "payments")


def _raw(settings, table: str, what: str = "count(*)"):
    glob = settings.lake_root / "raw" / "shop" / table / "*.parquet"
    return duckdb.sql(f"SELECT {what} FROM read_parquet('{glob}')").fetchone()


def _generate(settings):
    demo = settings.demo
    return generate(
        settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days
    )


def test_first_load_copies_every_row_and_a_rerun_loads_nothing(settings):
    counts = _generate(settings)
    first = ingest_source(open_run(settings), "shop")
    assert first.rows == counts
    for table in TABLES:
        assert _raw(settings, table) == (counts[table],)
        assert _raw(settings, table, "count(DISTINCT id), count(*) FILTER (WHERE _dlt_load_id IS NULL)") == (counts[table], 0)
    again = ingest_source(open_run(settings), "shop")
    assert again.total_rows == 0
    assert all(_raw(settings, table) == (counts[table],) for table in TABLES)


def test_after_a_demo_day_only_changed_rows_are_loaded(settings):
    _generate(settings)
    ingest_source(open_run(settings), "shop")
    before = {t: source_rows(settings, f"SELECT max(updated_at) FROM {t}")[0][0] for t in TABLES}
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    changed = {t: source_rows(settings, f"SELECT count(*) FROM {t} WHERE updated_at > ?", (before[t],))[0][0] for t in TABLES}
    result = ingest_source(open_run(settings), "shop")
    assert {t: result.rows.get(t, 0) for t in TABLES} == changed
    assert len(result.load_ids) == 1
    # every version of a changed row is kept in raw; the newest carries the newest load id
    newest = _raw(settings, "orders", f"count(*) FILTER (WHERE _dlt_load_id = '{result.load_ids[0]}')")
    assert newest == (changed["orders"],)


def test_raw_parquet_row_groups_follow_the_chunk_size(settings):
    _generate(settings)
    ingest_source(open_run(settings), "shop")
    glob = settings.lake_root / "raw" / "shop" / "order_items" / "*.parquet"
    groups = duckdb.sql(f"SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('{glob}')").fetchall()
    total = _raw(settings, "order_items")[0]
    assert len(groups) == 1 and groups[0][1] == total  # below one chunk: a single row group
