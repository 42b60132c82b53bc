"""The `spark` gateway: the same SQLMesh models built by Spark instead of DuckDB.

config.yaml states the Spark settings with paths in the data folder; a relative
path is anchored in it here, so that a test's data folder holds its own Spark
warehouse, Hive metastore (Derby, embedded) and SQLMesh state (a DuckDB file).
No jar is downloaded: Spark runs on what the pyspark wheel ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from sqlmesh.core.config.connection import ConnectionConfig, DuckDBConnectionConfig, SparkConnectionConfig

from core.errors import PlatformError
from core.settings import Settings

SPARK = "spark"
# Settings that hold a path: anchored in the data folder when relative.
_PATH_KEYS = ("spark.sql.warehouse.dir",)


def is_spark(connection: ConnectionConfig) -> TypeGuard[SparkConnectionConfig]:
    return connection.type_ == SPARK


def spark_dir(settings: Settings) -> Path:
    return settings.data_dir / "spark"


def anchored_spark_connection(settings: Settings, connection: SparkConnectionConfig) -> SparkConnectionConfig:
    """The Spark connection with its warehouse and metastore inside the data folder."""
    folder = spark_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(connection.config)
    if config.get("spark.jars.packages"):
        raise PlatformError("The spark gateway must not set spark.jars.packages: jars are never downloaded at run time.")
    for key in _PATH_KEYS:
        if key in config:
            config[key] = str(_anchored(settings, config[key]))
    metastore = folder / "metastore_db"
    config.setdefault("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true")
    # derby.log goes beside the metastore, not into the working directory.
    config.setdefault("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder}")
    # timestamps are UTC wall times, as on DuckDB: a cast to DATE must not move them into the machine's zone
    config.setdefault("spark.sql.session.timeZone", "UTC")
    return connection.model_copy(update={"config": config})


def anchored_state_connection(settings: Settings, connection: ConnectionConfig | None) -> ConnectionConfig:
    """SQLMesh's state store for the Spark gateway: a local DuckDB file (default `spark/state.duckdb`)."""
    if connection is None:
        return DuckDBConnectionConfig(database=str(spark_dir(settings) / "state.duckdb"))
    if isinstance(connection, DuckDBConnectionConfig) and connection.database:
        return connection.model_copy(update={"database": str(_anchored(settings, connection.database))})
    return connection


def _anchored(settings: Settings, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else settings.data_dir / candidate
