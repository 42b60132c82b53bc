"""Erasure: a customer's personal values leave every file of the data folder and every object of the
lake, the marts still reconcile with the source, and neither a later day nor a reingest brings them back."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pyarrow as pa
import pytest

from core import erasures as erasure_list
from core.erasures import TOMBSTONE, erase_records, erase_rows, erase_values, erasures
from core.errors import PlatformError
from core.run_context import open_run
from core.settings import Settings, load_settings
from demo.day import advance_day
from demo.shop import generate
from pipeline.environments import plan_environment
from pipeline.erase_files import erase_in_file, erase_sqlite_values, written_forms
from pipeline.erasure import erase
from pipeline.recovery import reingest
from pipeline.run import run_all
from pipeline.stages import build_and_publish, ingest, unreflected_loads
from publish.reader import connect_published, current_version
from publish.snapshot import write_snapshot
from tests.support import s3server
from tests.support.erasure_search import download_buckets, find_values
from tests.support.project import SMALL_SCALE, copy_project, run_cli, settings_for
from tests.support.reconcile import assert_marts_match_source

NAME, EMAIL, CITY = "Zebedee Quux", "zq-erase-canary@example.org", "Quuxville"
# The canary email is a substring of the invalid one that the quarantine gets.
CANARIES = [NAME, EMAIL.split("@")[0]]  # the city is seeded too, but config.yaml does not declare it personal
INVALID = EMAIL.replace("@", "-at-")


def _source(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.source_path(settings.demo.source))


def _busiest_customer(settings: Settings) -> int:
    with _source(settings) as con:
        return con.execute("SELECT customer_id FROM orders GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]


def _seed(settings: Settings, customer: int, email: str = EMAIL) -> None:
    """Give the customer the canary values, as a change the next ingest loads."""
    with _source(settings) as con:
        con.execute(
            "UPDATE customers SET name = ?, email = ?, city = ?, "
            "updated_at = (SELECT datetime(max(updated_at), '+1 second') FROM customers) WHERE id = ?",
            (NAME, email, CITY, customer),
        )


def _invalid(settings: Settings, customer: int) -> None:
    """A later version of the customer alone, with an invalid email: its load is refused, the value in the message."""
    _seed(settings, customer, email=INVALID)


def _quarantine_the_canary(settings: Settings, customer: int) -> None:
    """A later version of the customer with an invalid email, in a load big enough to stay under max_bad_share."""
    with _source(settings) as con:
        con.execute("UPDATE customers SET updated_at = (SELECT datetime(max(updated_at), '+2 seconds') FROM customers)")
        con.execute("UPDATE customers SET email = ? WHERE id = ?", (INVALID, customer))


def _searched(settings: Settings) -> list[str]:
    """Hits in the data folder, but the demo source itself: the operational database is not the platform's to change."""
    return find_values(settings.data_dir, CANARIES, skip=(settings.source_path(settings.demo.source).parent,))


def _published_customer(settings: Settings, customer: int) -> tuple:
    con, _ = connect_published(settings, role="operator")
    with con:
        return con.execute(
            "SELECT customer_name, customer_email, customer_city, count_orders FROM marts.dim_customers WHERE customer_id = ?", [customer]
        ).fetchone()


@pytest.fixture
def project(built, tmp_path: Path) -> Settings:
    """A copy of the project (so a model can change for a dev environment) on a copy of the session's build."""
    root = copy_project(tmp_path / "project", unit_tests=True)
    shutil.copytree(built[0].data_dir, root / "data")
    env = {"PLATFORM__DATA_DIR": str(root / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "PLATFORM__RUN__LOCK_WAIT_SECONDS": "2"}
    return load_settings(root, env=env)


@pytest.mark.slow
def test_erase_leaves_no_value_in_any_layer_and_nothing_brings_it_back(project: Settings):
    settings = project
    customer = _busiest_customer(settings)
    _seed(settings, customer)
    run_all(settings)
    _invalid(settings, customer)
    with pytest.raises(PlatformError) as refused:  # the message names the column and rule, never the value
        run_all(settings)
    assert "email" in str(refused.value) and INVALID not in str(refused.value)
    _quarantine_the_canary(settings, customer)
    summary = run_all(settings)
    assert any("quarantined" in warning for warning in summary.warnings), summary.warnings
    # a second version of dim_customers, built for a dev environment and published there
    model = settings.project_dir / "models" / "marts" / "dim_customers.sql"
    model.write_text(model.read_text().replace("WHERE NOT is_deleted", "WHERE NOT is_deleted AND customer_id IS NOT NULL"))
    assert "marts.dim_customers" in plan_environment(settings, "dev").built
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con, con:  # a message written before values were kept out
        con.execute(
            "INSERT INTO job_runs (job, trigger, started_at, status, error) VALUES ('ingest:shop', 'manual', '2026-01-01', 'failed', ?)",
            [f"email: str_matches ({INVALID!r})"],
        )
    write_snapshot(settings)
    log = settings.data_dir / "logs" / "scheduler.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps({"event": "job failed", "job": "ingest:shop", "error": f"email: str_matches ({INVALID!r})"}) + "\n")
    before = _searched(settings)
    where_found = ("lake/raw/shop/customers/", "_quarantine/customers/", "lake/staging/", "marts__dev/", "warehouse.duckdb", "reports")
    for where in (*where_found, "meta.db", "scheduler.log"):
        assert any(where in hit for hit in before), (where, before)

    logged = log.stat()

    result = erase(settings, "shop.customers", str(customer))

    assert _searched(settings) == []
    assert result.left == []
    counts = result.rewritten
    assert counts["raw rows"] >= 2 and counts["quarantine rows"] == 1 and counts["report snapshot"] == 1
    assert counts["warehouse tables"] >= 4  # staging, its history, prod's and dev's dim_customers
    assert counts["published files"] >= 4  # staging and marts, prod and dev
    assert counts["metadata store cells"] >= 1 and counts["other files rewritten"] >= 1  # the run log's error, the log file
    # the log is masked in place: a running scheduler keeps appending to the same file, no line moves
    assert (log.stat().st_ino, log.stat().st_size) == (logged.st_ino, logged.st_size)
    assert "*" * len(INVALID) in log.read_text()
    [record] = erasures(settings.meta_path)
    assert (record.source, record.table, record.key, record.finished_at is not None) == ("shop", "customers", str(customer), True)
    assert record.rewritten == counts
    name, email, city, orders = _published_customer(settings, customer)
    assert (name, email, city) == (TOMBSTONE, TOMBSTONE, CITY) and orders > 0  # the city is not declared personal
    assert_marts_match_source(settings)

    # the next day touches the customer in the source, first with an invalid email: the refused load's
    # message names the column, not the value; then a valid one loads erased; audits pass
    advance_day(settings.source_path(settings.demo.source), seed=settings.demo.seed)
    _invalid(settings, customer)
    with pytest.raises(PlatformError) as refused_again:
        run_all(settings)
    assert "email" in str(refused_again.value) and INVALID not in str(refused_again.value)
    assert _searched(settings) == []
    _seed(settings, customer)
    again = run_all(settings)
    assert again.rows_loaded["shop"]["customers"] >= 1
    assert _searched(settings) == []
    assert _published_customer(settings, customer)[:3] == (TOMBSTONE, TOMBSTONE, CITY)
    assert_marts_match_source(settings)

    # reading the table again whole from the source does not bring it back either
    reingest(settings, "shop", "customers")
    assert _searched(settings) == []
    assert_marts_match_source(settings)

    listed = run_cli("erasures", data_dir=settings.data_dir)
    assert listed.returncode == 0 and "shop.customers" in listed.stdout and f" {customer} " in listed.stdout, listed.stdout


@pytest.mark.slow
def test_erase_on_an_s3_lake_leaves_no_value_in_any_bucket(tmp_path: Path):
    server = s3server.start("moto")
    try:
        env = server.lake_env()
        settings = settings_for(tmp_path / "data", **env)
        source = settings.source_path(settings.demo.source)
        generate(
            source,
            seed=settings.demo.seed,
            scale=float(SMALL_SCALE),
            start_date=settings.demo.start_date,
            history_days=settings.demo.history_days,
        )
        customer = _busiest_customer(settings)
        _seed(settings, customer)
        run_all(settings)
        buckets = [env[f"PLATFORM__LAKE__S3__BUCKETS__{layer}"] for layer in ("RAW", "STAGING", "CURATED")]
        assert find_values(_download(server, buckets, tmp_path / "before"), CANARIES)

        erase(settings, "shop.customers", str(customer))

        assert find_values(_download(server, buckets, tmp_path / "after"), CANARIES) == []
        assert _searched(settings) == []
        assert_marts_match_source(settings)
        advance_day(source, seed=settings.demo.seed)
        _seed(settings, customer)
        run_all(settings)
        assert find_values(_download(server, buckets, tmp_path / "later"), CANARIES) == []
        assert _published_customer(settings, customer)[:3] == (TOMBSTONE, TOMBSTONE, CITY)
    finally:
        server.stop()


def _download(server, buckets: list[str], target: Path) -> Path:
    assert download_buckets(server.endpoint, server.access_key, server.secret_key, buckets, target) > 0
    return target


@pytest.mark.slow
def test_an_erasure_between_a_load_and_its_build_says_the_marts_miss_that_load(project: Settings):
    """The erasure republishes the marts it erased; a load that came before it and awaits its build is named, loudly,
    and the next build publishes it with the subject still erased."""
    settings = project
    customer = _busiest_customer(settings)
    advance_day(settings.source_path(settings.demo.source), seed=settings.demo.seed)
    ingest(open_run(settings), "shop")
    waiting = unreflected_loads(open_run(settings))
    assert waiting

    erased = run_cli("erase", "shop.customers", str(customer), data_dir=settings.data_dir, COLUMNS="400")

    assert erased.returncode == 0, erased.stderr
    assert "warning:" in erased.stdout and "do not reflect" in erased.stdout and waiting[0] in erased.stdout, erased.stdout
    assert unreflected_loads(open_run(settings)) == waiting
    assert _published_customer(settings, customer)[:2] == (TOMBSTONE, TOMBSTONE)
    build_and_publish(open_run(settings))
    assert unreflected_loads(open_run(settings)) == []
    assert _published_customer(settings, customer)[:2] == (TOMBSTONE, TOMBSTONE)
    assert_marts_match_source(settings)


@pytest.mark.slow
def test_erase_refuses_bad_targets_and_unknown_keys_with_a_message(built, tmp_path: Path):
    settings, _ = built
    for target, key, message in (
        ("nosuch.customers", "1", "No source 'nosuch'"),
        ("shop.nosuch", "1", "Source 'shop' has no table 'nosuch'"),
        ("customers", "1", "Name the table as <source>.<table>"),
        ("shop.orders", "1", "shop.orders declares no personal columns"),
        ("shop.customers", "999999999", "No row with id = '999999999' in the raw layer of shop.customers"),
    ):
        with pytest.raises(PlatformError, match=message):
            erase(settings, target, key)
    assert erasures(settings.meta_path) == []

    done = run_cli("erase", "shop.customers", "999999999", data_dir=settings.data_dir)
    assert done.returncode != 0
    assert "No row with id = '999999999'" in done.stderr + done.stdout and "Traceback" not in done.stderr


@pytest.mark.slow
def test_an_interrupted_erasure_is_completed_by_running_it_again(built_copy: Settings):
    settings = built_copy
    # what an erasure killed after putting the key on the list leaves: every ingest already erases the key
    erasure_list.begin(settings.meta_path, "shop", "customers", "5")
    assert erasure_list.erased_keys(settings.meta_path, "shop") == {"customers": ["5"]}
    assert erasures(settings.meta_path)[0].finished_at is None

    result = erase(settings, "shop.customers", "5")

    [record] = erasures(settings.meta_path)
    assert record.finished_at is not None and record.rewritten == result.rewritten and result.rewritten["raw rows"] >= 1
    with contextlib.closing(duckdb.connect()) as con:
        rows = con.execute(
            "SELECT id, name = ? AND email = ? FROM read_parquet(?) ORDER BY id",
            [TOMBSTONE, TOMBSTONE, f"{settings.lake_root}/raw/shop/customers/*.parquet"],
        ).fetchall()
    assert {key for key, erased in rows if erased} == {5}  # that customer's rows only, every other row as it was


def test_erase_rows_tombstones_text_nulls_other_types_and_keeps_the_rest():
    rows = pa.table(
        {
            "id": pa.array([1, 2, 2, None], pa.int64()),
            "name": ["a", "b", "b2", "d"],
            "born": pa.array([dt.date(2000, 1, 1)] * 4),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    erased, count = erase_rows(rows, "id", ["2"], ["name", "born", "missing"])
    assert count == 2
    assert erased.schema == rows.schema
    assert erased.to_pydict() == {
        "id": [1, 2, 2, None],
        "name": ["a", TOMBSTONE, TOMBSTONE, "d"],
        "born": [dt.date(2000, 1, 1), None, None, dt.date(2000, 1, 1)],
        "amount": [1.0, 2.0, 3.0, 4.0],
    }
    assert erase_rows(rows, "id", ["9"], ["name"]) == (rows, 0)
    # without a key: where a personal column holds one of the values
    by_value, count = erase_values(rows, ["name", "born"], ["b2", "zz"])
    assert count == 1 and by_value.column("name").to_pylist() == ["a", "b", TOMBSTONE, "d"]
    assert by_value.column("born").to_pylist() == [dt.date(2000, 1, 1)] * 2 + [None, dt.date(2000, 1, 1)]
    records = [{"id": "x1", "email": "a@b", "age": 3}, {"id": "x2", "email": "c@d", "age": 4}]
    assert erase_records(records, "id", ["x2"], ["email", "age"]) == 1
    assert records == [{"id": "x1", "email": "a@b", "age": 3}, {"id": "x2", "email": TOMBSTONE, "age": None}]


def test_values_are_erased_in_their_url_json_and_csv_written_forms(tmp_path: Path):
    name, email = 'Zoë "Zed" Quux', "zq+erase@example.org"
    log = tmp_path / "logs" / "api.out"
    log.parent.mkdir()
    lines = [
        f"GET /v1/marts/dim_customers?customer_email={quote(email, safe='')}&customer_name={quote_plus(name)} 200",
        f"GET /v1/marts/dim_customers?customer_email={quote(email)}&customer_name={quote(name, safe='')} 200",
        json.dumps({"event": "request", "query": {"customer_name": name}}),
        json.dumps({"event": "request", "query": {"customer_name": name}}, ensure_ascii=False),
        f'17,"{name.replace(chr(34), chr(34) * 2)}",{email}',
    ]
    log.write_text("\n".join(lines) + "\n")
    snapshot = tmp_path / "reports" / "status.csv"
    snapshot.parent.mkdir()
    snapshot.write_text(f'run,error\n1,"bad row: {name.replace(chr(34), chr(34) * 2)}"\n')
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con, con:
        con.execute("CREATE TABLE job_runs (run_id INTEGER, error TEXT)")
        con.execute("INSERT INTO job_runs VALUES (1, ?)", (json.dumps({"failure_cases": [email, name]}),))
    forms = written_forms({name, email})

    assert erase_in_file(str(log), forms) == "rewritten" and erase_in_file(str(snapshot), forms) == "rewritten"
    assert erase_sqlite_values(meta, forms) >= 1

    wanted = [name, email, quote(email, safe=""), quote_plus(name), json.dumps(name)[1:-1], name.replace('"', '""')]
    assert find_values(tmp_path, wanted) == []
    assert log.read_text().count("\n") == len(lines)  # masked in place: no line moved


@pytest.mark.slow
def test_erase_removes_orphan_version_folders_and_damaged_warehouse_copies(built_copy: Settings):
    settings = built_copy
    with _source(settings) as con:  # the highest id: its name is no part of another's
        customer = con.execute("SELECT max(id) FROM customers WHERE deleted_at IS NULL").fetchone()[0]
    name = _published_customer(settings, customer)[0]
    marts = Path(current_version(settings).files["dim_customers"]).parents[1]
    orphan = marts / "version=29990101T000000000000Z-dead00"  # what an erase killed while publishing leaves
    orphan.mkdir()
    (orphan / "data.parquet").write_bytes(b"")
    aside = settings.warehouse_path.with_name(f"{settings.warehouse_path.name}.damaged-20261201T000000")
    shutil.copy(settings.warehouse_path, aside)  # as `just doctor` moves a damaged warehouse aside
    assert find_values(settings.data_dir, [name], skip=(settings.source_path(settings.demo.source).parent,))

    result = erase(settings, "shop.customers", str(customer))

    assert not orphan.exists() and not aside.exists()
    assert result.rewritten["damaged warehouse copies removed"] == 1
    assert find_values(settings.data_dir, [name], skip=(settings.source_path(settings.demo.source).parent,)) == []
    assert_marts_match_source(settings)
