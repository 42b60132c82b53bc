"""Choosing the gateway, and the spark gateway's configuration: fast checks, no Spark started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.errors import PlatformError
from pipeline.cli import _with_gateway, parser
from tests.support.project import ROOT, settings_for
from transform.context import sqlmesh_config, uses_spark
from transform.spark_gateway import anchored_spark_connection


def test_duckdb_stays_the_default_gateway(tmp_path):
    settings = settings_for(tmp_path / "data")
    config = sqlmesh_config(settings)
    assert not uses_spark(settings)
    assert config.default_gateway == "local"
    assert config.gateways["local"].connection.database == str(settings.warehouse_path)


def test_the_spark_gateway_keeps_everything_in_the_data_folder(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__TRANSFORM__GATEWAY="spark")
    config = sqlmesh_config(settings)
    gateway = config.gateways[config.default_gateway]
    spark = settings.data_dir / "spark"
    assert uses_spark(settings) and config.default_gateway == "spark"
    assert gateway.connection.config["spark.sql.warehouse.dir"] == str(spark / "warehouse")
    assert f"databaseName={spark / 'metastore_db'}" in gateway.connection.config["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert gateway.state_connection.type_ == "duckdb"
    assert gateway.state_connection.database == str(spark / "state.duckdb")
    assert "spark.jars.packages" not in gateway.connection.config


def test_run_takes_the_gateway_as_a_flag(tmp_path):
    settings = settings_for(tmp_path / "data")
    args = parser().parse_args(["run", "--gateway", "spark"])
    assert uses_spark(_with_gateway(settings, args))
    assert not uses_spark(_with_gateway(settings, parser().parse_args(["run"])))


def test_an_unknown_gateway_is_named_with_the_known_ones(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__TRANSFORM__GATEWAY="trino")
    with pytest.raises(PlatformError, match=r"No gateway 'trino' in config.yaml .*local, spark"):
        sqlmesh_config(settings)


def test_jars_are_never_downloaded_at_run_time(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__TRANSFORM__GATEWAY="spark")
    connection = sqlmesh_config(settings).gateways["spark"].connection
    downloading = connection.model_copy(
        update={"config": {**connection.config, "spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.3.4"}}
    )
    with pytest.raises(PlatformError, match="spark.jars.packages"):
        anchored_spark_connection(settings, downloading)


def test_environments_say_they_run_on_duckdb_only(tmp_path):
    from pipeline.environments import plan_environment

    settings = settings_for(tmp_path / "data", PLATFORM__TRANSFORM__GATEWAY="spark")
    with pytest.raises(PlatformError, match="DuckDB gateway only"):
        plan_environment(settings, "dev")


@pytest.mark.slow
def test_plain_sqlmesh_works_without_pyspark(tmp_path):
    """`sqlmesh info` at the project root, as a user runs it, where `import pyspark` fails (a default
    install, without the spark extra): config.yaml declares the spark gateway only when it is selected."""
    shim = tmp_path / "no-pyspark" / "pyspark"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pyspark'\", name='pyspark')\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PYTHONPATH": str(shim.parent), "PLATFORM__DATA_DIR": str(tmp_path / "data")})
    sqlmesh = [sys.executable, "-c", "import sys; from sqlmesh.cli.main import cli; sys.exit(cli())"]

    info = subprocess.run([*sqlmesh, "info"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert info.returncode == 0 and "Data warehouse connection succeeded" in info.stdout, info.stdout + info.stderr
    assert "pyspark" not in info.stdout + info.stderr

    # the shim does stand for a missing pyspark
    probe = subprocess.run([sys.executable, "-c", "import pyspark"], env=environ, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "No module named 'pyspark'" in probe.stderr
