"""PostgreSQL sources against a real throwaway cluster on loopback: chunked backfill, incremental
loads, updates and soft deletes propagate, hard deletes are detected by comparing keys."""

from __future__ import annotations

import contextlib

import pytest

from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.postgres import PASSWORD, connect
from tests.support.sources import raw, settings_with_sources

pytestmark = pytest.mark.slow


def _seed(pg: dict, schema: str, orders: int) -> None:
    with contextlib.closing(connect(pg)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(
            f"CREATE TABLE {schema}.orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, status TEXT NOT NULL, "
            "amount DOUBLE PRECISION NOT NULL, updated_at TIMESTAMP NOT NULL, deleted_at TIMESTAMP)"
        )
        con.execute(
            f"INSERT INTO {schema}.orders SELECT g, 1 + g %% 50, 'placed', g * 1.5, "
            "TIMESTAMP '2025-01-01' + g * INTERVAL '1 minute', NULL FROM generate_series(1, %s) g",
            (orders,),
        )


def _source(pg: dict, schema: str, **table) -> dict:
    return {
        "kind": "postgres",
        "host": pg["host"],
        "port": pg["port"],
        "database": pg["database"],
        "user": pg["user"],
        "password_env": "SHOP_PG_PASSWORD",
        "db_schema": schema,
        "chunk_size": 1000,
        "tables": {"orders": {"primary_key": "id", "cursor": "updated_at", **table}},
    }


def _latest(settings) -> dict[int, tuple]:
    rows = raw(
        settings,
        "pg",
        "orders",
        "SELECT id, status, amount, deleted_at IS NOT NULL FROM t "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1",
    )
    return {row[0]: row[1:] for row in rows}


def test_backfill_in_chunks_then_updates_soft_and_hard_deletes_propagate(tmp_path, postgres):
    _seed(postgres, "shop_a", 2_500)
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "shop_a", detect_hard_deletes=True)}, SHOP_PG_PASSWORD=PASSWORD)

    first = ingest_source(open_run(settings), "pg")
    assert first.rows == {"orders": 2_500}
    assert first.batches == {"orders": 3}  # the backfill came in chunks of chunk_size

    with contextlib.closing(connect(postgres)) as con:
        con.execute(
            "UPDATE shop_a.orders SET status = 'paid', updated_at = TIMESTAMP '2026-01-01' + id * INTERVAL '1 second' WHERE id <= 5"
        )
        con.execute("UPDATE shop_a.orders SET deleted_at = now(), updated_at = TIMESTAMP '2026-01-02' WHERE id IN (10, 11)")
        con.execute("DELETE FROM shop_a.orders WHERE id IN (20, 21, 22)")
        con.execute(
            "INSERT INTO shop_a.orders VALUES (3001, 1, 'placed', 9.5, TIMESTAMP '2026-01-03', NULL), "
            "(3002, 2, 'placed', 1, TIMESTAMP '2026-01-03', NULL)"
        )
        source = {
            row[0]: (row[1], row[2], row[3]) for row in con.execute("SELECT id, status, amount, deleted_at IS NOT NULL FROM shop_a.orders")
        }

    second = ingest_source(open_run(settings), "pg")
    assert second.rows == {"orders": 5 + 2 + 2, "orders__deleted": 3}
    assert raw(settings, "pg", "orders__deleted", "SELECT id FROM t ORDER BY id") == [(20,), (21,), (22,)]
    latest = _latest(settings)
    hard_deleted = {20, 21, 22}
    assert {k: v for k, v in latest.items() if k not in hard_deleted} == source
    assert latest[10][2] is True and latest[1][0] == "paid"

    third = ingest_source(open_run(settings), "pg")
    assert third.total_rows == 0  # nothing changed: no rows, and each hard delete is reported once
    assert raw(settings, "pg", "orders__deleted", "SELECT count(*) FROM t") == [(3,)]


def test_wrong_password_fails_clearly_without_printing_it(tmp_path, postgres):
    _seed(postgres, "shop_b", 10)
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "shop_b")}, SHOP_PG_PASSWORD="not-the-password")
    from core.errors import PlatformError

    with pytest.raises(PlatformError) as caught:
        ingest_source(open_run(settings), "pg")
    assert "password authentication failed" in str(caught.value)
    assert "not-the-password" not in str(caught.value)
