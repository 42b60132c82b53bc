"""A published column has the type DuckDB computes for the model's SQL, or the build refuses naming
the model, the column and the cast to write (transform/exact_types.py)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from core.errors import PlatformError
from core.run_context import open_run
from core.settings import load_settings
from pipeline.stages import build_and_publish
from publish.reader import connect_published
from tests.support.project import SMALL_SCALE, copy_project

# Amounts near the top of DECIMAL(15,2): two of them overflow it. The ratio has more than three decimals.
ROWS = [
    ("a", "9000000000000.25", "261000000000.125", 7),
    ("a", "9000000000000.50", "261000000000.250", 2147483647),
    ("b", "0.01", "0.290", 3),
]

SEED = """MODEL (
  name staging.stg_ref__wide_amounts,
  kind SEED (path '$root/seeds/wide_amounts.csv'),
  owner analytics,
  cron '@daily',
  grain (grp, amount),
  description 'One row per amount, from seeds/wide_amounts.csv.',
  columns (grp TEXT, amount DECIMAL(15, 2), weight DECIMAL(18, 3), qty INTEGER),
  audits (not_null(columns := (grp)))
);
"""

TOTALS = """MODEL (
  name marts.amount_totals,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain grp,
  description 'One row per group: its amounts summed, averaged and related to its weights.',
  audits (not_null(columns := (grp)), unique_values(columns := (grp)))
);

SELECT
  grp, -- The group
  {total} AS amount_total, -- Sum of the amounts
  avg(amount) AS amount_average, -- Their mean
  {ratio} AS ratio_amount_weight, -- Amount per unit of weight
  {units} AS count_units -- Sum of the quantities
FROM staging.stg_ref__wide_amounts
GROUP BY grp
"""
AS_WRITTEN = {"total": "sum(amount)", "ratio": "sum(amount) / sum(weight)", "units": "sum(qty)"}


def _project(tmp_path, data_dir, totals: str):
    project = copy_project(tmp_path / "project")
    (project / "seeds" / "wide_amounts.csv").write_text("grp,amount,weight,qty\n" + "".join(f"{g},{a},{w},{q}\n" for g, a, w, q in ROWS))
    (project / "models" / "staging" / "stg_ref__wide_amounts.sql").write_text(SEED)
    (project / "models" / "marts" / "amount_totals.sql").write_text(totals)
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE})


def _direct(con: duckdb.DuckDBPyConnection, settings) -> duckdb.DuckDBPyRelation:
    """The same aggregates computed by DuckDB straight from the CSV."""
    csv = settings.project_dir / "seeds" / "wide_amounts.csv"
    return con.sql(
        f"SELECT grp, sum(amount) AS amount_total, avg(amount) AS amount_average, sum(amount) / sum(weight) AS ratio_amount_weight, "
        f"sum(qty) AS count_units FROM read_csv('{csv}', columns := "
        "{'grp': 'VARCHAR', 'amount': 'DECIMAL(15,2)', 'weight': 'DECIMAL(18,3)', 'qty': 'INTEGER'}) GROUP BY grp ORDER BY grp"
    )


def test_columns_typed_otherwise_than_duckdb_computes_them_are_refused_with_the_cast(tmp_path):
    settings = _project(tmp_path, tmp_path / "data", TOTALS.format(**AS_WRITTEN))
    with pytest.raises(PlatformError) as refused:
        build_and_publish(open_run(settings))
    message = str(refused.value)
    lines = {line.split(" column ")[1].split(" ")[0]: line for line in message.splitlines() if line.startswith("  - ")}
    assert set(lines) == {"amount_total", "ratio_amount_weight", "count_units"}, message
    for line in lines.values():
        assert line.startswith("  - marts.amount_totals (models/marts/amount_totals.sql): column "), line
    assert "would be stored as DECIMAL(15, 2), but DuckDB computes DECIMAL(38, 2)" in lines["amount_total"]
    assert "`CAST(SUM(amount) AS DECIMAL(38, 2)) AS amount_total`" in lines["amount_total"]
    assert "DuckDB computes DOUBLE" in lines["ratio_amount_weight"]
    assert "`CAST(SUM(amount) / SUM(weight) AS DOUBLE) AS ratio_amount_weight`" in lines["ratio_amount_weight"]
    assert "Parquet cannot hold" in lines["count_units"] and "`CAST(SUM(qty) AS BIGINT) AS count_units`" in lines["count_units"]
    assert "Traceback" not in message and "Nothing was built" in message
    assert not (tmp_path / "data" / "lake" / "curated").exists()


def test_with_the_casts_written_the_published_marts_equal_duckdb_computing_them(built, tmp_path):
    shutil.copytree(built[0].data_dir, tmp_path / "data")
    casts = {
        "total": "CAST(sum(amount) AS DECIMAL(38, 2))",
        "ratio": "CAST(sum(amount) / sum(weight) AS DOUBLE)",
        "units": "CAST(sum(qty) AS BIGINT)",
    }
    settings = _project(tmp_path, tmp_path / "data", TOTALS.format(**casts))
    build_and_publish(open_run(settings))
    con, _ = connect_published(settings)
    with con:
        published = con.sql("SELECT * FROM marts.amount_totals ORDER BY grp")
        direct = _direct(con, settings)
        types = dict(zip(published.columns, map(str, published.types), strict=True))
        expected = dict(zip(direct.columns, map(str, direct.types), strict=True))
        assert types == {**expected, "count_units": "BIGINT"} and expected["count_units"] == "HUGEINT"
        assert types["amount_total"] == "DECIMAL(38,2)" and types["ratio_amount_weight"] == "DOUBLE"
        assert published.fetchall() == direct.fetchall()
