"""A file-drop source with a staging model named by the convention takes part in change detection (issue 20)."""

from __future__ import annotations

import contextlib
import os
import time

import duckdb
import pytest
import yaml

from core.settings import load_settings
from pipeline.recovery import reingest
from pipeline.run import run_all
from tests.support.project import ROOT, SMALL_SCALE, copy_project
from tests.support.sources import raw

pytestmark = pytest.mark.slow

STAGING = """MODEL (
  name staging.stg_drops__orders,
  kind FULL,
  owner data_platform,
  cron '@daily',
  grain order_id,
  description 'One row per dropped order: its latest drop.',
  audits (not_null(columns := (order_id)), unique_values(columns := (order_id)))
);

SELECT
  id::BIGINT AS order_id, -- The drop's order id
  status::TEXT AS order_status -- Its status in the latest drop
FROM raw_drops.orders
QUALIFY row_number() OVER (PARTITION BY id ORDER BY _dlt_load_id DESC) = 1
"""


LINES = """MODEL (
  name staging.stg_drops__lines,
  kind FULL,
  owner data_platform,
  cron '@daily',
  grain (order_id, line_number),
  description 'One row per order line of the drops: its latest drop.',
  audits (not_null(columns := (order_id, line_number)))
);

SELECT
  order_id::BIGINT AS order_id, -- The line's order
  line::BIGINT AS line_number, -- The line within its order
  qty::BIGINT AS quantity -- Units in the latest drop
FROM raw_drops.lines
QUALIFY row_number() OVER (PARTITION BY order_id, line ORDER BY _dlt_load_id DESC) = 1
"""


def _project(tmp_path):
    project = tmp_path / "project"
    copy_project(project)
    (project / "models" / "staging" / "stg_drops__orders.sql").write_text(STAGING)
    (project / "models" / "staging" / "stg_drops__lines.sql").write_text(LINES)
    external = yaml.safe_load((ROOT / "external_models.yaml").read_text())
    external.append(
        {"name": "raw_drops.orders", "columns": {"id": "BIGINT", "status": "TEXT", "_dlt_load_id": "TEXT", "_deleted": "BOOLEAN"}}
    )
    external.append(
        {
            "name": "raw_drops.lines",
            "columns": {"order_id": "BIGINT", "line": "BIGINT", "qty": "BIGINT", "_dlt_load_id": "TEXT", "_deleted": "BOOLEAN"},
        }
    )
    (project / "external_models.yaml").write_text(yaml.safe_dump(external, sort_keys=False))
    # edited as text: config.yaml's SQLMesh part holds Jinja that a YAML round trip would re-quote
    config = (ROOT / "config.yaml").read_text()
    drops = (
        '      drops: {kind: files, landing: landing/drops, settle_seconds: 0, tables: {orders: {pattern: "orders*"}, '
        'lines: {pattern: "lines*", primary_key: [order_id, line]}}}\n'
    )
    (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + drops, 1))
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE})


def _staged(settings) -> list[tuple]:
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        return con.execute("SELECT order_id, order_status FROM staging.stg_drops__orders ORDER BY 1").fetchall()


def _land(path, text: str, age: float) -> None:
    path.write_text(text)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def test_a_changed_drop_reaches_its_staging_model(tmp_path):
    settings = _project(tmp_path)
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True)
    (landing / "orders-1.csv").write_text("id,status\n1,placed\n2,placed\n")
    (landing / "lines-1.csv").write_text("order_id,line,qty\n1,1,5\n1,2,6\n")
    run_all(settings)
    assert _staged(settings) == [(1, "placed"), (2, "placed")]

    # two drops of one table in one run: the later one's version of order 2 wins, whatever the names
    _land(landing / "orders-3.csv", "id,status\n2,shipped\n3,placed\n", age=20)
    _land(landing / "orders-2.csv", "id,status\n2,delivered\n", age=10)
    (landing / "lines-2.csv").write_text("order_id,line,qty\n1,2,60\n2,1,7\n")
    second = run_all(settings)
    assert {"staging.stg_drops__orders", "staging.stg_drops__lines"} <= set(second.models_built)
    assert _staged(settings) == [(1, "placed"), (2, "delivered"), (3, "placed")]
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        lines = con.execute("SELECT order_id, line_number, quantity FROM staging.stg_drops__lines ORDER BY ALL").fetchall()
    assert lines == [(1, 1, 5), (1, 2, 60), (2, 1, 7)]

    # `just reingest drops.orders`: every landed file of the table again, in landing order, one load each
    assert reingest(settings, "drops", "orders") == {"orders": 5}
    assert _staged(settings) == [(1, "placed"), (2, "delivered"), (3, "placed")]
    assert raw(settings, "drops", "orders", "SELECT count(*), count(DISTINCT _dlt_load_id) FROM t") == [(5, 3)]
