"""The spark gateway: the same models, audits and unit tests on a local Spark, and the same marts as DuckDB.

One Spark session and one Spark build serve the whole module (a process has one
SparkSession). The DuckDB side is the shared `built` fixture; the Spark side
runs `just run`'s pipeline on a copy of the very same demo source, with
`transform.gateway: spark`, so ingest, build, audits and publishing are the
real ones. Both sides are compared through what they published.
"""

from __future__ import annotations

import contextlib
import decimal
import math
import shutil

import pytest
from sqlmesh import Context

from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.project import ROOT, settings_for
from transform.context import spark_session, sqlmesh_config, uses_spark

pytestmark = pytest.mark.slow

# Ratios and averages are DECIMAL in the models, so both engines round them to the same digits;
# only DOUBLE values (none in the marts today) would be compared to 9 significant digits.
FLOAT_DIGITS = 9


@pytest.fixture(scope="module")
def spark_run(built, tmp_path_factory):
    """`run_all` on the spark gateway, on a copy of the source the DuckDB `built` run generated."""
    duck_settings, duck_summary = built
    settings = settings_for(tmp_path_factory.mktemp("spark") / "data", PLATFORM__TRANSFORM__GATEWAY="spark")
    source = settings.source_path(settings.demo.source)
    source.parent.mkdir(parents=True)
    shutil.copy(duck_settings.source_path(duck_settings.demo.source), source)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Pacific/Kiritimati")  # Spark's JVM starts in a zone 14 hours ahead: the marts must not move
        summary = run_all(settings)
    yield settings, summary
    spark_session(settings).stop()


def _normalised(value):
    if isinstance(value, float):
        return float(f"{value:.{FLOAT_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, decimal.Decimal):
        return value.normalize()
    return value


def _rows(con, table: str) -> list[tuple]:
    columns = [row[0] for row in con.execute(f"DESCRIBE marts.{table}").fetchall()]
    rows = con.execute(f"SELECT {', '.join(columns)} FROM marts.{table}").fetchall()
    return sorted((tuple(_normalised(v) for v in row) for row in rows), key=repr)


def test_the_setting_selects_the_spark_gateway(spark_run, built):
    settings, _ = spark_run
    assert uses_spark(settings) and not uses_spark(built[0])
    config = sqlmesh_config(settings)
    assert config.default_gateway == "spark"
    assert config.gateways["spark"].connection.type_ == "spark"
    assert config.gateways["spark"].state_connection.type_ == "duckdb"
    assert (settings.data_dir / "spark" / "state.duckdb").exists()
    assert not settings.warehouse_path.exists(), "the spark run must not build into DuckDB"


def test_spark_and_its_metastore_write_only_in_the_data_folder(spark_run):
    settings, _ = spark_run
    spark = settings.data_dir / "spark"
    assert {path.name for path in spark.iterdir()} >= {"warehouse", "metastore_db", "derby.log", "state.duckdb"}
    # Spark's and Derby's defaults, relative to the working directory (the repository in tests and `just`).
    strays = [name for name in ("spark-warehouse", "metastore_db", "derby.log", "spark") if (ROOT / name).exists()]
    assert strays == []


def test_spark_builds_every_model_and_passes_every_audit(spark_run, built):
    _, summary = spark_run
    _, duck = built
    assert summary.models_total == duck.models_total
    assert sorted(summary.models_built) == sorted(duck.models_built)
    assert summary.audits_passed == duck.audits_passed > 0
    assert summary.published_version is not None


def test_the_marts_equal_the_duckdb_marts_row_for_row(spark_run, built):
    # unmasked: the two data folders hash personal values with salts of their own
    spark_con, spark_published = connect_published(spark_run[0], role="operator")
    duck_con, duck_published = connect_published(built[0], role="operator")
    with contextlib.closing(spark_con), contextlib.closing(duck_con):
        assert sorted(spark_published.files) == sorted(duck_published.files)
        assert len(duck_published.files) >= 13
        for table in duck_published.files:
            spark_columns = spark_con.execute(f"DESCRIBE marts.{table}").fetchall()
            duck_columns = duck_con.execute(f"DESCRIBE marts.{table}").fetchall()
            assert [c[:2] for c in spark_columns] == [c[:2] for c in duck_columns], table
            spark_rows, duck_rows = _rows(spark_con, table), _rows(duck_con, table)
            assert len(spark_rows) == len(duck_rows) > 0, table
            assert spark_rows == duck_rows, table


def test_the_totals_per_mart_agree(spark_run, built):
    """Belt and braces for the row comparison: each numeric column's sum, per mart."""
    spark_con, _ = connect_published(spark_run[0])
    duck_con, published = connect_published(built[0])
    with contextlib.closing(spark_con), contextlib.closing(duck_con):
        for table in published.files:
            numeric = [
                name
                for name, kind, *_ in duck_con.execute(f"DESCRIBE marts.{table}").fetchall()
                if kind.startswith(("DECIMAL", "INTEGER", "BIGINT", "DOUBLE"))
            ]
            sums = "count(*)" + "".join(f", sum({name})" for name in numeric)
            assert (
                spark_con.execute(f"SELECT {sums} FROM marts.{table}").fetchone()
                == duck_con.execute(f"SELECT {sums} FROM marts.{table}").fetchone()
            ), table


def test_unit_tests_run_on_spark(spark_run):
    """The SQLMesh unit tests, with Spark as the test engine (the plan runs them on DuckDB by default)."""
    settings, _ = spark_run
    config = sqlmesh_config(settings)
    gateway = config.gateways["spark"]
    config.gateways["spark"] = gateway.model_copy(update={"test_connection": gateway.connection})
    context = Context(paths=[settings.project_dir], config=config)
    with contextlib.closing(context):
        assert context.test_connection_config.type_ == "spark"
        result = context.test()
    assert result.testsRun >= 15
    assert result.wasSuccessful(), [str(failure) for failure in result.failures + result.errors]
