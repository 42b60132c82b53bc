"""A declared table's staging model merges only the keys of the loads it has not merged (issue 27).

`@unmerged_keys` (macros/) narrows the staging models incremental by key to the keys of loads
not yet applied; a first insert, a new model version and a table that lost rows read every load.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3

import duckdb
import pytest

from core import warehouse
from core.run_context import open_run
from core.settings import load_settings
from demo.day import advance_day
from ingest.pipeline import ingest_source
from pipeline.recovery import reingest
from pipeline.run import run_all
from tests.support.project import SMALL_SCALE, copy_project, delete_order_at_source
from tests.support.reconcile import assert_marts_match_source
from tests.support.sqlmesh_log import merge_queries, statements
from transform.build import build_prod
from transform.raw_views import create_raw_views
from transform.restatement import raw_loads

pytestmark = pytest.mark.slow

# The staged orders as a full build computes them: every raw version, the latest per key.
_ORDERS_FROM_RAW = """
    SELECT id::BIGINT, status, (deleted_at IS NOT NULL OR _deleted) FROM raw_shop.orders
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
"""
_ORDERS_STAGED = "SELECT order_id, order_status, is_deleted FROM staging.stg_shop__orders"


def _differing(settings, built: str, expected: str) -> int:
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        create_raw_views(con, open_run(settings))
        both_ways = f"(({built}) EXCEPT ALL ({expected})) UNION ALL (({expected}) EXCEPT ALL ({built}))"
        return con.execute(f"SELECT count(*) FROM ({both_ways})").fetchone()[0]


def _count(settings, sql: str) -> int:
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        create_raw_views(con, open_run(settings))
        return con.execute(sql).fetchone()[0]


def _merge_query(seen: list[str], model: str = "stg_shop__orders") -> str:
    """The query whose rows SQLMesh merged into the model."""
    found = merge_queries(seen).get(model, [])
    assert len(found) == 1, f"{len(found)} merges of {model}"
    return found[0]


def _stopped_before_recording(settings, applied: list[str], pending: str) -> None:
    """The record as a build leaves it when it stops after merging, before recording the loads it applied."""
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path))) as con:
        con.execute("UPDATE sqlmesh_platform.transform_state SET applied_loads = ?, pending_models = ?", [json.dumps(applied), pending])


def test_a_day_merges_only_its_keys_and_merging_its_load_again_changes_nothing(built_copy):
    settings = built_copy
    before = sorted(raw_loads(open_run(settings)).names)
    total = _count(settings, "SELECT count(*) FROM staging.stg_shop__orders")
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    ingest_source(open_run(settings), "shop")
    (new,) = [name.split("/", 1)[1] for name in raw_loads(open_run(settings)).names - set(before)]
    touched = _count(settings, f"SELECT count(DISTINCT id) FROM raw_shop.orders WHERE _dlt_load_id = '{new}' OR _deleted")

    with statements() as seen:
        day = build_prod(open_run(settings))

    assert "staging.stg_shop__orders" in day.restatement.models and not day.restatement.whole
    merged = _merge_query(seen)
    assert re.findall(r'"_dlt_load_id" IN \(([^)]*)\)', merged) == [f"'{new}'"]  # the day's load, by name
    assert 0 < _count(settings, f"SELECT count(*) FROM ({merged})") == touched < total  # its keys, not the history
    assert _differing(settings, _ORDERS_STAGED, _ORDERS_FROM_RAW) == 0
    staged = _count(settings, "SELECT count(*) FROM staging.stg_shop__orders")

    # a build that stopped before recording the day's load: the next merges it again, harmlessly
    _stopped_before_recording(settings, before, "staging.stg_shop__orders")
    with statements() as seen:
        build_prod(open_run(settings))
    assert re.findall(r'"_dlt_load_id" IN \(([^)]*)\)', _merge_query(seen)) == [f"'{new}'"]
    assert _differing(settings, _ORDERS_STAGED, _ORDERS_FROM_RAW) == 0
    assert _count(settings, "SELECT count(*) FROM staging.stg_shop__orders") == staged
    assert build_prod(open_run(settings)).tally.models_built == set()  # nothing new: nothing evaluated


def test_a_changed_model_and_a_reingest_read_every_load(built_copy, tmp_path):
    project = copy_project(tmp_path / "project")
    model = project / "models" / "staging" / "stg_shop__orders.sql"
    model.write_text(model.read_text().replace("status::TEXT AS order_status", "lower(status)::TEXT AS order_status"))
    settings = load_settings(project, env={"PLATFORM__DATA_DIR": str(built_copy.data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE})
    orders = _count(settings, "SELECT count(DISTINCT id) FROM raw_shop.orders")

    with statements() as seen:
        changed = build_prod(open_run(settings))  # a new version of the model: its first insert reads every load

    assert "staging.stg_shop__orders" in changed.tally.models_built
    first = [statement for statement in seen if "staging__stg_shop__orders__" in statement and '"raw_shop"."orders"' in statement]
    assert first and not any('"_dlt_load_id" IN' in statement for statement in first)
    assert _count(settings, "SELECT count(*) FROM staging.stg_shop__orders") == orders
    assert _differing(settings, _ORDERS_STAGED, _ORDERS_FROM_RAW) == 0

    # an order gone from the source and the table read again whole: raw no longer holds it, nor does staging
    gone = delete_order_at_source(settings, "max")
    reingest(settings, "shop", "orders")
    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__orders WHERE order_id = {gone}") == 0
    # its lines stay in raw (their table was not read again), but a line is staged only with its order
    assert _count(settings, f"SELECT count(*) FROM raw_shop.order_items WHERE order_id = {gone}") > 0
    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__order_items WHERE order_id = {gone}") == 0
    assert _differing(settings, _ORDERS_STAGED, _ORDERS_FROM_RAW) == 0
    assert_marts_match_source(settings)


def test_the_demo_models_stay_level_with_a_build_from_every_load(built_copy):
    """Hard and soft deletes of a day reach the merged rows as a full build computes them."""
    settings = built_copy
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    gone = delete_order_at_source(settings, "min")  # a hard delete: its key is in no new load's rows
    ingest_source(open_run(settings), "shop")
    build_prod(open_run(settings))
    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__orders WHERE order_id = {gone} AND is_deleted") == 1
    assert _count(settings, "SELECT count(*) FROM staging.stg_shop__orders WHERE is_deleted") > 1  # soft deletes too
    assert _differing(settings, _ORDERS_STAGED, _ORDERS_FROM_RAW) == 0
    items = (
        "SELECT id::BIGINT, quantity::INTEGER, _deleted FROM raw_shop.order_items "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1"
    )
    assert _differing(settings, "SELECT order_item_id, quantity, is_deleted FROM staging.stg_shop__order_items", items) == 0


def test_a_line_and_a_payment_loaded_before_their_order_are_merged_when_it_lands(built_copy):
    """The ingest reads orders, then their lines and payments, while the shop writes all three: a line
    can land one load before its order. Staging cannot place it then; the load that brings the order
    merges it, and the marts count it."""
    settings = built_copy
    with sqlite3.connect(settings.source_path("shop")) as src:
        (order, item, payment, customer, product, now) = src.execute(
            "SELECT (SELECT max(id) + 1 FROM orders), (SELECT max(id) + 1 FROM order_items), (SELECT max(id) + 1 FROM payments), "
            "(SELECT min(id) FROM customers WHERE deleted_at IS NULL), (SELECT min(id) FROM products), "
            "(SELECT max(updated_at) FROM (SELECT updated_at FROM orders UNION ALL SELECT updated_at FROM order_items "
            "UNION ALL SELECT updated_at FROM payments))"
        ).fetchone()
        src.execute("INSERT INTO order_items VALUES (?, ?, ?, 2, 9.5, datetime(?, '+1 hour'))", (item, order, product, now))
        src.execute(
            "INSERT INTO payments VALUES (?, ?, 19.0, 'card', datetime(?, '+1 hour'), datetime(?, '+1 hour'))", (payment, order, now, now)
        )
    run_all(settings)
    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__order_items WHERE order_item_id = {item}") == 0  # no order yet

    with sqlite3.connect(settings.source_path("shop")) as src:
        src.execute(
            "INSERT INTO orders VALUES (?, ?, 'paid', datetime(?, '+1 hour'), datetime(?, '+2 hours'), NULL)", (order, customer, now, now)
        )
    run_all(settings)

    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__order_items WHERE order_item_id = {item}") == 1
    assert _count(settings, f"SELECT count(*) FROM staging.stg_shop__payments WHERE payment_id = {payment}") == 1
    assert_marts_match_source(settings)
