"""Hard deletes on request: rows deleted in the source leave the marts; a key that comes back is live again."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import pytest

from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.project import settings_for
from tests.support.reconcile import assert_marts_match_source
from tests.support.sources import raw

pytestmark = pytest.mark.slow  # three end-to-end runs on the small demo shop


def _published(settings, sql: str) -> set:
    con, _ = connect_published(settings)
    with con:
        return {row[0] for row in con.execute(sql).fetchall()}


def _later(con: sqlite3.Connection) -> str:
    """A cursor value after every row's, in the source's own format."""
    newest = max(con.execute(f"SELECT max(updated_at) FROM {t}").fetchone()[0] for t in ("orders", "order_items", "payments"))
    return str(dt.datetime.fromisoformat(newest) + dt.timedelta(minutes=1))


def test_hard_deleted_rows_leave_the_marts_and_a_returning_key_is_live_again(tmp_path):
    # config.yaml asks for detection on customers and orders; order lines ask for it here, the same way
    settings = settings_for(tmp_path / "data", PLATFORM__SOURCES__SHOP__TABLES__ORDER_ITEMS__DETECT_HARD_DELETES="true")
    run_all(settings)

    with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
        orders = [r[0] for r in con.execute("SELECT id FROM orders WHERE deleted_at IS NULL AND status <> 'cancelled' ORDER BY id LIMIT 3")]
        (customer,) = con.execute(
            "SELECT id FROM customers c WHERE deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) LIMIT 1"
        ).fetchone()
        (line, line_order) = con.execute(
            "SELECT min(id), order_id FROM order_items WHERE order_id NOT IN (?, ?, ?) AND order_id IN "
            "(SELECT id FROM orders WHERE deleted_at IS NULL AND status <> 'cancelled') "
            "GROUP BY order_id HAVING count(*) >= 2 ORDER BY order_id LIMIT 1",
            orders,
        ).fetchone()
        marks = ",".join("?" * len(orders))
        kept = {
            t: con.execute(f"SELECT * FROM {t} WHERE {c} = ?", (orders[0],)).fetchall()
            for t, c in (("orders", "id"), ("order_items", "order_id"), ("payments", "order_id"))
        }
        lines_gone = con.execute(f"SELECT count(*) FROM order_items WHERE order_id IN ({marks})", orders).fetchone()[0] + 1
        # a cascading delete, as an application would do it
        con.execute(f"DELETE FROM payments WHERE order_id IN ({marks})", orders)
        con.execute(f"DELETE FROM order_items WHERE order_id IN ({marks}) OR id = ?", (*orders, line))
        con.execute(f"DELETE FROM orders WHERE id IN ({marks})", orders)
        con.execute("DELETE FROM customers WHERE id = ?", (customer,))
    line_total_before = _published(settings, f"SELECT amount_total FROM marts.fct_orders WHERE order_id = {line_order}")

    deleted = run_all(settings)
    assert deleted.rows_loaded["shop"] == {"orders__deleted": 3, "customers__deleted": 1, "order_items__deleted": lines_gone}
    assert _published(settings, "SELECT order_id FROM marts.fct_orders") & set(orders) == set()
    assert _published(settings, "SELECT order_id FROM marts.fct_order_items") & set(orders) == set()
    assert _published(settings, "SELECT order_id FROM marts.fct_payments") & set(orders) == set()
    assert line not in _published(settings, "SELECT order_item_id FROM marts.fct_order_items")
    assert _published(settings, f"SELECT amount_total FROM marts.fct_orders WHERE order_id = {line_order}") != line_total_before
    assert customer not in _published(settings, "SELECT customer_id FROM marts.dim_customers")
    assert_marts_match_source(settings)

    # the first order comes back (re-inserted under its old id, with a new updated_at)
    with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
        stamp = _later(con)
        for table, rows in kept.items():
            columns = [d[1] for d in con.execute(f"PRAGMA table_info({table})")]
            for row in rows:
                values = dict(zip(columns, row, strict=True), updated_at=stamp)
                con.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
    back = run_all(settings)
    assert back.rows_loaded["shop"] == {t: len(rows) for t, rows in kept.items() if rows}
    assert orders[0] in _published(settings, "SELECT order_id FROM marts.fct_orders")
    assert set(orders[1:]) & _published(settings, "SELECT order_id FROM marts.fct_orders") == set()
    assert_marts_match_source(settings)
    # each disappearance is reported once
    assert raw(settings, "shop", "orders__deleted", "SELECT id FROM t ORDER BY id") == [(o,) for o in sorted(orders)]


def test_on_s3_a_key_is_flagged_while_gone_and_reported_again_when_it_goes_again(tmp_path):
    """Detection and the raw view's flag on the s3 backend, through the ingest alone (no build)."""
    from core import warehouse
    from core.run_context import open_run
    from demo.shop import generate
    from ingest.pipeline import ingest_source
    from tests.support import s3server
    from transform.raw_views import create_raw_views

    server = s3server.start_moto()
    try:
        settings = settings_for(tmp_path / "data", PLATFORM__DEMO__SCALE="0.01", **server.lake_env())
        demo = settings.demo
        generate(settings.source_path("shop"), seed=demo.seed, scale=demo.scale, start_date=demo.start_date, history_days=demo.history_days)
        run = open_run(settings)
        run.lake.ensure_layers()
        ingest_source(run, "shop")

        def flags(order_id: int) -> list[bool]:
            """The `_deleted` flag of each loaded version of an order, oldest load first."""
            with contextlib.closing(warehouse.connect()) as con:
                create_raw_views(con, run)
                rows = con.execute("SELECT _deleted FROM raw_shop.orders WHERE id = ? ORDER BY _dlt_load_id", [order_id]).fetchall()
            return [row[0] for row in rows]

        with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
            (order_id,) = con.execute("SELECT min(id) FROM orders").fetchone()
            row = con.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
            columns = [d[1] for d in con.execute("PRAGMA table_info(orders)")]
            con.execute("DELETE FROM orders WHERE id = ?", (order_id,))
        assert ingest_source(run, "shop").rows == {"orders__deleted": 1}
        assert flags(order_id) == [True]
        assert ingest_source(run, "shop").total_rows == 0  # reported once

        with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
            values = dict(zip(columns, row, strict=True), updated_at=_later(con))
            con.execute(f"INSERT INTO orders ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
        assert ingest_source(run, "shop").rows == {"orders": 1}
        assert flags(order_id) == [True, False]  # the returning key's new row is live

        with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
            con.execute("DELETE FROM orders WHERE id = ?", (order_id,))
        assert ingest_source(run, "shop").rows == {"orders__deleted": 1}  # gone again: reported again
        assert flags(order_id) == [True, True]
    finally:
        server.stop()
