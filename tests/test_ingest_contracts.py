"""Contracts at the ingestion boundary: pandera on the demo shop, and dlt's schema contract modes."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from core import metastore
from core.errors import PlatformError
from core.run_context import open_run
from demo.shop import generate
from ingest.pipeline import ingest_source
from tests.support.project import settings_for
from tests.support.sources import quarantine, raw, settings_with_sources


def _shop(tmp_path, **env):
    settings = settings_for(tmp_path / "data", **env)
    demo = settings.demo
    counts = generate(settings.source_path("shop"), seed=demo.seed, scale=0.01, start_date=demo.start_date, history_days=demo.history_days)
    return settings, counts


def _shop_sql(settings, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(settings.source_path("shop"))) as con, con:
        for statement in statements:
            con.execute(statement)


BAD_ROWS = (
    "UPDATE orders SET status = 'lost', updated_at = '2025-12-01 00:00:00' WHERE id = 3",
    "UPDATE orders SET ordered_at = '1900-01-01 00:00:00', updated_at = '2025-12-01 00:00:01' WHERE id = 4",
    "UPDATE payments SET amount = -5, updated_at = '2025-12-01 00:00:00' WHERE id = 7",
)


def test_invalid_shop_rows_are_quarantined_with_check_column_and_value(tmp_path):
    settings, counts = _shop(tmp_path, PLATFORM__SOURCES__SHOP__QUALITY__MAX_BAD_SHARE="1")
    ingest_source(open_run(settings), "shop")
    _shop_sql(settings, *BAD_ROWS, "UPDATE orders SET status = 'paid', updated_at = '2025-12-01 00:00:02' WHERE id = 5")

    result = ingest_source(open_run(settings), "shop")
    assert result.rows == {"orders": 1}  # the valid change went through
    assert result.quarantined == {"orders": 2, "payments": 1}
    found = quarantine(settings, "shop", "orders", "SELECT id, _check, _column, _failure, _dlt_load_id FROM q ORDER BY id")
    assert found == [
        ("3", "isin(('placed', 'paid', 'shipped', 'delivered', 'cancelled'))", "status", "lost", result.load_ids[0]),
        ("4", "in_range(2000-01-01 00:00:00, 2100-01-01 00:00:00)", "ordered_at", "1900-01-01 00:00:00", result.load_ids[0]),
    ]
    assert quarantine(settings, "shop", "payments", "SELECT id, _column, _failure FROM q") == [("7", "amount", "-5.0")]
    assert raw(
        settings, "shop", "orders", "SELECT count(*) FILTER (WHERE id IN (3, 4) AND status = 'lost' OR ordered_at < '2000-01-01') FROM t"
    ) == [(0,)]

    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        recorded = con.execute(
            "SELECT table_name, rows_in, rows_valid, rows_quarantined FROM contract_results WHERE load_id = ? ORDER BY table_name",
            (result.load_ids[0],),
        ).fetchall()
    assert recorded == [("orders", 3, 1, 2), ("payments", 1, 0, 1)]


def test_above_the_bad_row_share_the_load_is_refused_and_nothing_moves(tmp_path):
    settings, counts = _shop(tmp_path, PLATFORM__SOURCES__SHOP__QUALITY__MAX_BAD_SHARE="0.1")
    ingest_source(open_run(settings), "shop")
    _shop_sql(settings, *BAD_ROWS)
    with pytest.raises(PlatformError, match=r"shop\.orders: 2 of 2 rows .*Nothing of it was loaded"):
        ingest_source(open_run(settings), "shop")
    assert raw(settings, "shop", "orders") == [(counts["orders"],)]
    assert raw(settings, "shop", "payments") == [(counts["payments"],)]
    # dlt's cursor did not move: once the source is fixed, the rows come through
    _shop_sql(
        settings,
        "UPDATE orders SET status = 'paid' WHERE id = 3",
        "UPDATE orders SET ordered_at = '2025-01-02 00:00:00' WHERE id = 4",
        "UPDATE payments SET amount = 5 WHERE id = 7",
    )
    assert ingest_source(open_run(settings), "shop").rows == {"orders": 2, "payments": 1}


def test_a_new_source_column_appears_in_raw_and_is_reported(tmp_path):
    settings, counts = _shop(tmp_path)
    ingest_source(open_run(settings), "shop")
    _shop_sql(
        settings,
        "ALTER TABLE customers ADD COLUMN loyalty_tier TEXT",
        "UPDATE customers SET loyalty_tier = 'gold', updated_at = '2025-12-01 00:00:00' WHERE id <= 3",
    )
    result = ingest_source(open_run(settings), "shop")
    assert result.new_columns == {"customers": ["loyalty_tier"]}
    assert raw(settings, "shop", "customers", "SELECT count(*) FROM t WHERE loyalty_tier = 'gold'") == [(3,)]


def _events(tmp_path, contract) -> tuple:
    declaration = {
        "kind": "files",
        "settle_seconds": 0,
        "contract": contract,
        "quality": {"enabled": False},
        "tables": {"events": {"pattern": "events*.jsonl"}},
    }
    settings = settings_with_sources(tmp_path, {"feed": declaration})
    landing = settings.landing_path("feed")
    landing.mkdir(parents=True)
    first = [{"id": i, "kind": "click", "amount": 1.5} for i in range(1, 6)]
    (landing / "events-1.jsonl").write_text("\n".join(json.dumps(r) for r in first))
    assert ingest_source(open_run(settings), "feed").rows == {"events": 5}
    return settings, landing


def _drop(landing, name: str, rows: list[dict]) -> None:
    (landing / name).write_text("\n".join(json.dumps(r) for r in rows))


def test_evolve_adds_new_columns_and_variant_columns(tmp_path):
    settings, landing = _events(tmp_path, "evolve")
    _drop(landing, "events-2.jsonl", [{"id": 6, "kind": "view", "amount": 2.0, "coupon": "X1"}])
    assert ingest_source(open_run(settings), "feed").new_columns == {"events": ["coupon"]}
    _drop(landing, "events-3.jsonl", [{"id": 7, "kind": "view", "amount": "a lot"}])
    result = ingest_source(open_run(settings), "feed")
    assert result.new_columns == {"events": ["amount__v_text"]}
    assert raw(settings, "feed", "events", "SELECT id, amount, amount__v_text, coupon FROM t WHERE id >= 6 ORDER BY id") == [
        (6, 2.0, None, "X1"),
        (7, None, "a lot", None),
    ]


def test_freeze_refuses_a_changed_type_naming_table_and_column_and_loads_nothing(tmp_path):
    settings, landing = _events(tmp_path, {"tables": "evolve", "columns": "freeze", "data_type": "freeze"})
    _drop(landing, "events-2.jsonl", [{"id": 6, "kind": "view", "amount": 2.0}, {"id": 7, "kind": "view", "amount": "a lot"}])
    with pytest.raises(PlatformError) as caught:
        ingest_source(open_run(settings), "feed")
    message = str(caught.value)
    assert "'events'" in message and "'amount'" in message and "freeze" in message and "Nothing was loaded" in message
    assert raw(settings, "feed", "events") == [(5,)]
    _drop(landing, "events-2.jsonl", [{"id": 6, "kind": "view", "amount": 2.0, "coupon": "X1"}])
    with pytest.raises(PlatformError, match=r"'events', column 'coupon' \(columns is 'freeze'\)"):
        ingest_source(open_run(settings), "feed")
    assert raw(settings, "feed", "events") == [(5,)]


def test_discard_row_drops_rows_with_new_columns_and_counts_them(tmp_path):
    settings, landing = _events(tmp_path, {"columns": "discard_row"})
    rows = [{"id": i, "kind": "view", "amount": 1.0} for i in range(6, 11)]
    rows[1]["coupon"] = rows[3]["coupon"] = "X1"
    _drop(landing, "events-2.jsonl", rows)
    result = ingest_source(open_run(settings), "feed")
    assert result.rows == {"events": 3} and result.discarded == {"events": 2}
    assert raw(settings, "feed", "events", "SELECT list(id ORDER BY id) FROM t WHERE id >= 6") == [([6, 8, 10],)]
    assert raw(settings, "feed", "events", "SELECT count(*) FROM (DESCRIBE t) WHERE column_name = 'coupon'") == [(0,)]


def test_discard_value_keeps_rows_and_drops_new_columns(tmp_path):
    settings, landing = _events(tmp_path, {"columns": "discard_value"})
    _drop(landing, "events-2.jsonl", [{"id": 6, "kind": "view", "amount": 1.0, "coupon": "X1"}])
    result = ingest_source(open_run(settings), "feed")
    assert result.rows == {"events": 1} and result.discarded == {}
    assert raw(settings, "feed", "events", "SELECT count(*) FROM (DESCRIBE t) WHERE column_name = 'coupon'") == [(0,)]


def test_text_and_uuid_keys_quarantine_blank_malformed_and_repeated_keys():
    import pandera.pandas as pandera
    import pyarrow as pa

    from audits.contracts import TEXT, UUID, text_key, text_reference, uuid_key, uuid_reference
    from ingest.contracts import ContractGuard

    guard = ContractGuard("drops", {}, enabled=True, max_bad_share=1)
    guard.contracts["tickets"] = pandera.DataFrameSchema(
        {
            "id": uuid_key(),
            "customer_id": uuid_reference(),
            "code": text_key(pattern=r"T-\d+"),
            "queue": text_reference(),
            "note": pandera.Column(TEXT),
        },
        coerce=True,
    )
    good = ["0b7e7dd2-6e3c-4a53-9f57-1d7c4b1b6f0e", "5f0c0a52-1c87-4d3e-8a6b-2c5b1f1d9a11", "9d4b2a8e-3f1c-4e7a-b5d6-7c8e9f0a1b2c"]
    batch = pa.table(
        {
            "id": [good[0], good[1], "not-a-uuid", good[0], good[2], good[2].upper()],
            "customer_id": [good[1], good[2], good[0], good[1], "", good[0]],
            "code": ["T-1", "T-2", "T-3", "T-4", "T-5", "X-6"],
            "queue": ["a", "b", "c", "d", "e", "  "],
            "note": ["", "", "", "", "", ""],
        }
    )
    valid = guard.check("tickets", batch, source_file="tickets.csv", lines=[2, 3, 4, 5, 6, 7])
    assert valid.column("id").to_pylist() == [good[0], good[1]]
    quarantined = pa.concat_tables(guard.tallies["tickets"].quarantined).to_pylist()
    failed = {row["_line"]: {(f["check"], f["column"]) for f in json.loads(row["_failures"])} for row in quarantined}
    assert failed[4] == {(f"matches({UUID})", "id")}
    assert failed[5] == {("field_uniqueness", "id")}
    assert ("not_blank", "customer_id") in failed[6]
    assert failed[7] == {(r"matches(T-\d+)", "code"), ("not_blank", "queue")}
    assert {row["_source_file"] for row in quarantined} == {"tickets.csv"}
