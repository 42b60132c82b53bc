"""PostgreSQL sources against a real throwaway cluster on loopback: chunked backfill, incremental
loads, updates and soft deletes propagate, hard deletes are detected by comparing keys."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import random

import pytest

from core.run_context import open_run
from ingest.pipeline import PartialIngest, ingest_source
from tests.support.postgres import PASSWORD, connect, source_of
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
    return source_of(pg, schema, {"orders": {"primary_key": "id", "cursor": "updated_at", **table}}, chunk_size=1000)


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
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "shop_a", detect_hard_deletes=True)}, PG_PASSWORD=PASSWORD)

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
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "shop_b")}, PG_PASSWORD="not-the-password")
    from core.errors import PlatformError

    with pytest.raises(PlatformError) as caught:
        ingest_source(open_run(settings), "pg")
    assert "password authentication failed" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


# Columns whose values Arrow, dlt or DuckDB would change or refuse: raw keeps each as PostgreSQL writes it.
_AS_TEXT_COLUMNS = {
    "n_free": "numeric",
    "n_wide": "numeric(50,10)",
    "t_tz": "timetz",
    "span": "interval",
    "ip": "inet",
    "net": "cidr",
    "seats": "int4range",
    "ips": "inet[]",
}


def _random_decimal(rng: random.Random, digits: int, scale: int) -> decimal.Decimal:
    whole = rng.randint(0, digits - scale)
    text = "".join(rng.choice("0123456789") for _ in range(whole)) or "0"
    fraction = "".join(rng.choice("0123456789") for _ in range(scale))
    return decimal.Decimal(("-" if rng.random() < 0.3 else "") + text + ("." + fraction if fraction else ""))


def _hostile_row(rng: random.Random, row: int) -> tuple:
    def maybe(value):
        return None if rng.random() < 0.1 else value

    v4 = ".".join(str(rng.randint(0, 255)) for _ in range(4))
    v6 = ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8))
    low = rng.randint(-1000, 1000)
    digits = rng.randint(1, 60)
    clock = f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:{rng.randint(0, 59):02}"
    return (
        row,
        maybe("NaN" if rng.random() < 0.05 else str(_random_decimal(rng, digits, rng.randint(0, min(digits, 40))))),
        maybe(str(_random_decimal(rng, 50, 10))),
        maybe(f"{clock}.{rng.randint(0, 999999):06}{rng.choice('+-')}{rng.randint(0, 14):02}"),
        maybe(f"{rng.randint(0, 40)} months {rng.randint(-30, 30)} days {rng.randint(0, 86399)} seconds"),
        maybe(rng.choice([v4, v6, f"{v4}/{rng.randint(8, 32)}"])),
        maybe(f"10.{rng.randint(0, 255)}.0.0/16"),
        maybe(f"[{low},{low + rng.randint(1, 50)})"),
        maybe("{" + v4 + "," + v6 + "}"),
        round(rng.uniform(-1e6, 1e6), 4),
    )


@pytest.mark.parametrize("seed", range(3))
def test_values_arrow_or_duckdb_would_change_reach_raw_as_postgres_writes_them(tmp_path, postgres, seed):
    """Generated values of the types dlt's pyarrow backend cannot hold exactly (a NUMERIC without precision or
    wider than 38 digits, NaN, a time's offset, inet, interval, ranges) stop no load and reach raw as the
    text PostgreSQL's output function writes; a NUMERIC that fits stays a DECIMAL, every value equal."""
    schema = f"hostile_{seed}"
    rng = random.Random(seed)
    rows = [_hostile_row(rng, row) for row in range(1, 81)]
    columns = ", ".join(f"{name} {kind}" for name, kind in _AS_TEXT_COLUMNS.items())
    with contextlib.closing(connect(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.things (id BIGINT PRIMARY KEY, {columns}, fits NUMERIC(12,4))")
        with con.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {schema}.things VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
        # the output function's text (format's %s), independently of how the platform asks for it
        written = ", ".join(f"CASE WHEN {name} IS NULL THEN NULL ELSE format('%s', {name}) END" for name in _AS_TEXT_COLUMNS)
        expected = {row[0]: row[1:] for row in con.execute(f"SELECT id, {written}, fits FROM {schema}.things").fetchall()}
    source = _source(postgres, schema) | {"tables": {"things": {"primary_key": "id", "cursor": None}}}
    settings = settings_with_sources(tmp_path, {"pg": source}, PG_PASSWORD=PASSWORD)

    assert ingest_source(open_run(settings), "pg").rows == {"things": len(rows)}
    names = ", ".join(_AS_TEXT_COLUMNS)
    loaded = {row[0]: row[1:] for row in raw(settings, "pg", "things", f"SELECT id, {names}, fits FROM t")}
    assert loaded == expected
    types = dict(raw(settings, "pg", "things", "SELECT column_name, column_type FROM (DESCRIBE t)"))
    assert {name: types[name] for name in _AS_TEXT_COLUMNS} == dict.fromkeys(_AS_TEXT_COLUMNS, "VARCHAR")
    assert types["fits"] == "DECIMAL(12,4)"
    for row in rows:  # the numbers themselves, not only PostgreSQL's text of them
        generated, landed = row[1:3], loaded[row[0]][:2]
        for value, text in zip(generated, landed, strict=True):
            assert (value is None and text is None) or value == "NaN" == text or decimal.Decimal(text) == decimal.Decimal(value)


def test_hard_deletes_compare_keys_read_as_text_with_raw(tmp_path, postgres):
    """A key of a type raw holds as text (a NUMERIC without precision, a uuid) is read as text by the key scan
    too, so that a deleted key is found and a live one is not."""
    keys = ["1.5", "100000000000000000000000000000000000000001", "2"]
    with contextlib.closing(connect(postgres)) as con:
        con.execute("DROP SCHEMA IF EXISTS keyed CASCADE; CREATE SCHEMA keyed")
        con.execute("CREATE TABLE keyed.items (id NUMERIC PRIMARY KEY, ref UUID NOT NULL, updated_at TIMESTAMP NOT NULL)")
        for key in keys:
            con.execute("INSERT INTO keyed.items VALUES (%s, gen_random_uuid(), TIMESTAMP '2025-01-01')", (key,))
    tables = {"items": {"primary_key": ["id", "ref"], "cursor": "updated_at", "detect_hard_deletes": True}}
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "keyed") | {"tables": tables}}, PG_PASSWORD=PASSWORD)
    assert ingest_source(open_run(settings), "pg").rows == {"items": 3}

    with contextlib.closing(connect(postgres)) as con:
        con.execute("DELETE FROM keyed.items WHERE id = %s", (keys[1],))
    second = ingest_source(open_run(settings), "pg")
    assert second.rows == {"items__deleted": 1}
    assert raw(settings, "pg", "items__deleted", "SELECT id FROM t") == [(keys[1],)]


def test_infinite_dates_and_nan_numbers_go_to_their_columns_variants_and_block_nothing(tmp_path, postgres):
    """`infinity` dates and timestamps and `NaN` NUMERICs have no Arrow value (psycopg and Arrow refused them, and
    every table of the source with them): the table is read again with each such value, as PostgreSQL writes it,
    in its column's `__v_text` variant, the column NULL in that row; the run says so. A table with none loads as
    before, on the first read."""
    with contextlib.closing(connect(postgres)) as con:
        con.execute("DROP SCHEMA IF EXISTS odd CASCADE; CREATE SCHEMA odd")
        con.execute(
            "CREATE TABLE odd.validity (id BIGINT PRIMARY KEY, amount NUMERIC(10,2), valid_to TIMESTAMP, since DATE, "
            "updated_at TIMESTAMP NOT NULL)"
        )
        con.execute(
            "INSERT INTO odd.validity VALUES (1, 1.5, '2025-01-01 10:00', '2024-01-01', '2025-01-01'), "
            "(2, 'NaN', 'infinity', '-infinity', '2025-01-02'), (3, NULL, NULL, 'infinity', '2025-01-03')"
        )
        con.execute("CREATE TABLE odd.plain (id BIGINT PRIMARY KEY, v TEXT, updated_at TIMESTAMP NOT NULL)")
        con.execute("INSERT INTO odd.plain VALUES (1, 'a', '2025-01-01')")
    tables = {"validity": {"primary_key": "id", "cursor": "updated_at"}, "plain": {"primary_key": "id", "cursor": "updated_at"}}
    settings = settings_with_sources(tmp_path, {"pg": _source(postgres, "odd") | {"tables": tables}}, PG_PASSWORD=PASSWORD)

    result = ingest_source(open_run(settings), "pg")

    assert result.rows == {"validity": 3, "plain": 1}
    columns = "id, amount, amount__v_text, valid_to, valid_to__v_text, since, since__v_text"
    assert raw(settings, "pg", "validity", f"SELECT {columns} FROM t ORDER BY id") == [
        (1, decimal.Decimal("1.50"), None, dt.datetime(2025, 1, 1, 10, 0), None, dt.date(2024, 1, 1), None),
        (2, None, "NaN", None, "infinity", None, "-infinity"),
        (3, None, None, None, None, None, "infinity"),
    ]
    types = dict(raw(settings, "pg", "validity", "SELECT column_name, column_type FROM (DESCRIBE t)"))
    assert (types["amount"], types["valid_to"], types["since"]) == ("DECIMAL(10,2)", "TIMESTAMP", "DATE")
    assert [w for w in result.warnings if "variant" in w] == [
        "pg.validity: holds values that Arrow cannot hold (an infinite date or timestamp, a NaN NUMERIC): each is loaded into "
        "its column's variant (amount__v_text, valid_to__v_text, since__v_text), the column NULL in that row"
    ]
    with contextlib.closing(connect(postgres)) as con:
        con.execute("INSERT INTO odd.validity VALUES (4, 'NaN', NULL, NULL, '2025-02-01')")
    assert ingest_source(open_run(settings), "pg").rows == {"validity": 1}  # the cursor holds: only the new row


def test_a_load_that_fails_names_the_table_and_never_the_value(tmp_path, postgres):
    """An `infinity` in the cursor column cannot be set aside (dlt compares the cursor's values): the load stops,
    naming the table."""
    with contextlib.closing(connect(postgres)) as con:
        con.execute("DROP SCHEMA IF EXISTS stuck CASCADE; CREATE SCHEMA stuck")
        con.execute("CREATE TABLE stuck.events (id BIGINT PRIMARY KEY, updated_at TIMESTAMP)")
        con.execute("INSERT INTO stuck.events VALUES (1, '2025-01-01'), (2, 'infinity')")
    settings = settings_with_sources(
        tmp_path, {"pg": _source(postgres, "stuck") | {"tables": {"events": {"primary_key": "id"}}}}, PG_PASSWORD=PASSWORD
    )
    from core.errors import PlatformError

    with pytest.raises(PlatformError) as caught:
        ingest_source(open_run(settings), "pg")
    assert str(caught.value).startswith("Loading pg failed in table 'events': ")
    assert "infinity" not in str(caught.value)


def test_a_declared_table_the_database_lacks_stops_no_other(tmp_path, postgres):
    """A table dropped or misnamed in config.yaml is refused on its own, naming it; tables, views and
    materialized views that exist load."""
    _seed(postgres, "partly", 40)
    with contextlib.closing(connect(postgres)) as con:
        con.execute("CREATE VIEW partly.paid AS SELECT * FROM partly.orders WHERE id <= 10")
        con.execute("CREATE MATERIALIZED VIEW partly.early AS SELECT * FROM partly.orders WHERE id <= 5")
    tables = {name: {"primary_key": "id", "cursor": "updated_at"} for name in ("orders", "gone", "paid", "early")}
    settings = settings_with_sources(tmp_path, {"pg": source_of(postgres, "partly", tables)}, PG_PASSWORD=PASSWORD)
    with pytest.raises(PartialIngest) as caught:
        ingest_source(open_run(settings), "pg")
    partial = caught.value.result
    assert list(partial.failed_tables) == ["gone"] and "has no table or view 'gone'" in partial.failed_tables["gone"]
    assert PASSWORD not in str(caught.value)
    assert partial.rows == {"orders": 40, "paid": 10, "early": 5}
