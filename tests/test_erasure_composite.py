"""Erasure by a composite key: `just erase crm.visits shop=1 visit=2` erases that subject's personal values
from every layer (raw, quarantine, warehouse, published marts, meta.db, the erasure list's copy in the lake)
and no other row's, even rows sharing one part of the key; a later change and a reingest do not bring them back."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

import audits.contracts as contracts_package
from core.erasure_list import COPY
from core.erasures import TOMBSTONE, erase_records, erase_rows, erasures, subject_key
from core.lake import Lake
from core.settings import Settings, load_settings
from pipeline.recovery import reingest
from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.erasure_search import find_values
from tests.support.project import SMALL_SCALE, copy_project, run_cli

NAME, EMAIL = "Quintus Compositekey", "qck-composite-canary@example.org"
INVALID = EMAIL.replace("@", "-at-")
CANARIES = [NAME, EMAIL.split("@")[0]]
OTHERS = {(1, 1): ("Ann Other", "ann@example.org"), (2, 2): ("Bea Other", "bea@example.org"), (2, 1): ("Cy Other", "cy@example.org")}

SOURCE = """      crm:
        kind: sqlite
        path: sources/crm.db
        quality: {max_bad_share: 1}
        tables:
          visits: {primary_key: [shop, visit], cursor: updated_at, personal: {name: remove, email: hash}}
"""
EXTERNAL = """
- name: raw_crm.visits
  columns: {shop: BIGINT, visit: BIGINT, name: TEXT, email: TEXT, amount: DOUBLE, updated_at: TEXT, _dlt_load_id: TEXT}
"""
STAGING = """MODEL (
  name staging.stg_crm__visits, kind FULL, owner crm, grain (shop, visit),
  audits (unique_combination_of_columns(columns := (shop, visit)))
);

SELECT shop, visit, name, email, amount, updated_at
FROM raw_crm.visits
QUALIFY row_number() OVER (PARTITION BY shop, visit ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
"""
MART = """MODEL (
  name marts.crm_visits, kind FULL, owner crm, grain (shop_id, visit_number),
  audits (unique_combination_of_columns(columns := (shop_id, visit_number)))
);

SELECT
  shop AS shop_id, -- The shop visited
  visit AS visit_number, -- The visit, numbered per shop
  name AS visitor_name, -- Who visited
  email AS visitor_email, -- Their address
  amount AS amount_spent -- What they spent
FROM staging.stg_crm__visits
"""
CONTRACT = '''"""Visits."""

import pandera.pandas as pa

schema = pa.DataFrameSchema(
    {"email": pa.Column(str, pa.Check.str_matches(r"^[^@\\s]+@[^@\\s]+$"))}, coerce=True, name="crm.visits"
)
'''


def _project(tmp_path: Path) -> Settings:
    project = copy_project(tmp_path / "project")
    config = (project / "config.yaml").read_text()
    (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + SOURCE, 1))
    with open(project / "external_models.yaml", "a") as handle:
        handle.write(EXTERNAL)
    (project / "models" / "staging" / "stg_crm__visits.sql").write_text(STAGING)
    (project / "models" / "marts" / "crm_visits.sql").write_text(MART)
    env = {"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "PLATFORM__DEMO__ENABLED": "false"}
    return load_settings(project, env=env)


def _write(settings: Settings, rows: dict[tuple[int, int], tuple[str, str]], second: int) -> None:
    path = settings.source_path("crm")
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE IF NOT EXISTS visits (shop INTEGER, visit INTEGER, name TEXT, email TEXT, amount REAL, updated_at TEXT)")
        for (shop, visit), (name, email) in rows.items():
            con.execute("DELETE FROM visits WHERE shop = ? AND visit = ?", (shop, visit))
            con.execute(
                "INSERT INTO visits VALUES (?, ?, ?, ?, ?, ?)",
                (shop, visit, name, email, 10.0 * shop + visit, f"2025-01-01 00:00:{second:02d}"),
            )


def _published(settings: Settings) -> dict[tuple, tuple]:
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        rows = con.execute("SELECT shop_id, visit_number, visitor_name, visitor_email, amount_spent FROM marts.crm_visits").fetchall()
    return {(shop, visit): rest for shop, visit, *rest in rows}


def _searched(settings: Settings) -> list[str]:
    return find_values(settings.data_dir, CANARIES, skip=(settings.source_path("crm").parent,))


@pytest.mark.slow
def test_a_subject_named_by_a_composite_key_is_erased_from_every_layer_and_stays_erased(tmp_path: Path, monkeypatch):
    settings = _project(tmp_path)
    # a contract module beside the project's own (audits/contracts/ is a package imported from the checkout)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "crm__visits.py").write_text(CONTRACT)
    places = [*contracts_package.__path__, str(tmp_path / "contracts")]
    monkeypatch.setattr(contracts_package, "__path__", places)
    monkeypatch.setattr(contracts_package.__spec__, "submodule_search_locations", places)
    _write(settings, {**OTHERS, (1, 2): (NAME, EMAIL)}, second=1)
    run_all(settings)
    _write(settings, {(1, 2): (NAME, INVALID)}, second=2)  # a later version the contract quarantines
    summary = run_all(settings)
    assert any("quarantined" in warning for warning in summary.warnings), summary.warnings
    before = _searched(settings)
    for where in ("lake/raw/crm/visits/", "_quarantine/visits/", "lake/staging/crm/", "lake/curated/marts", "warehouse.duckdb"):
        assert any(where in hit for hit in before), (where, before)
    assert _published(settings)[(1, 2)][:2] == [NAME, EMAIL]

    project = ("--project", str(settings.project_dir))
    env = {"PLATFORM__DEMO__ENABLED": "false", "PLATFORM__RUN__LOCK_WAIT_SECONDS": "2"}
    refused = run_cli(*project, "erase", "crm.visits", "1", data_dir=settings.data_dir, **env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "composite key (shop, visit): name each column's value once, as shop=<value> visit=<value>" in refused.stdout + refused.stderr
    unknown = run_cli(*project, "erase", "crm.visits", "shop=2", "visit=9", data_dir=settings.data_dir, **env)
    assert unknown.returncode != 0 and "No row with shop = '2' and visit = '9'" in unknown.stdout + unknown.stderr

    erased = run_cli(*project, "erase", "crm.visits", "visit=2", "shop=1", data_dir=settings.data_dir, COLUMNS="400", **env)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert _searched(settings) == []
    published = _published(settings)
    assert published[(1, 2)] == [TOMBSTONE, TOMBSTONE, 12.0]  # the key and the facts stay
    assert {key: tuple(row[:2]) for key, row in published.items() if key != (1, 2)} == OTHERS  # rows sharing one key part keep theirs
    [record] = erasures(settings.meta_path)
    assert (record.table, json.loads(record.key), record.finished_at is not None) == ("visits", {"shop": "1", "visit": "2"}, True)
    assert record.rewritten is not None and record.rewritten["raw rows"] >= 1 and record.rewritten["quarantine rows"] == 1
    copy = json.loads(Path(Lake(settings).url("raw", "crm", COPY)).read_text())
    assert [json.loads(key) for key in copy["erased"]["visits"]] == [{"shop": "1", "visit": "2"}]

    # the subject changes at the source: the new version lands erased; reading the table again whole does too
    _write(settings, {(1, 2): (NAME, EMAIL)}, second=3)
    assert reingest(settings, "crm", "visits") == {"visits": 4}
    run_all(settings)
    assert _searched(settings) == []
    assert _published(settings)[(1, 2)] == [TOMBSTONE, TOMBSTONE, 12.0]
    assert {key: tuple(row[:2]) for key, row in _published(settings).items() if key != (1, 2)} == OTHERS


def test_erase_rows_and_records_match_a_composite_key_column_by_column():
    key = subject_key(["shop", "visit"], ["1", "2"])
    assert json.loads(key) == {"shop": "1", "visit": "2"}
    rows = pa.table({"a": [1, 1, 2, 2, None], "b": [2, 1, 2, 1, 2], "name": ["x", "y", "z", "w", "v"]})
    erased, count = erase_rows(rows, ["a", "b"], [key], ["name"])  # matched by position: a model names the columns otherwise
    assert count == 1 and erased["name"].to_pylist() == [TOMBSTONE, "y", "z", "w", "v"]
    records = [{"a": 1, "b": 2, "name": "x"}, {"a": 2, "b": 1, "name": "y"}]
    assert erase_records(records, ["a", "b"], [key], ["name"]) == 1
    assert [r["name"] for r in records] == [TOMBSTONE, "y"]
