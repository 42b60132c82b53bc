"""A model that breaks the project's lint rules is refused naming the model, its file, each rule and its fix."""

from __future__ import annotations

import pytest

from core.errors import PlatformError
from core.run_context import open_run
from core.settings import load_settings
from tests.support.project import SMALL_SCALE, copy_project
from transform.build import build_prod
from transform.context import open_context
from transform.lint import FIXES

# No owner, no audits, no grain and `SELECT *`.
CARELESS = """MODEL (
  name marts.careless_orders,
  kind FULL,
  cron '@daily',
  description 'One row per order, written in a hurry.'
);

SELECT * FROM marts.fct_orders
"""
# A column that no upstream declares, one selected twice, and an expression without a name.
CONFUSED = """MODEL (
  name marts.confused_orders,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain order_id,
  description 'One row per order.',
  audits (not_null(columns := (order_id)))
);

SELECT
  o.order_id, -- The order
  o.order_id, -- The order again
  o.no_such_column, -- Not a column of fct_orders
  o.amount_total + 1 -- Unnamed
FROM marts.fct_orders AS o
"""
# Valid SQL, but no grain and a computed column without a name (SQLMesh would publish it as `_col_1`).
UNNAMED = """MODEL (
  name marts.unnamed_orders,
  kind FULL,
  owner analytics,
  cron '@daily',
  description 'One row per order.',
  audits (not_null(columns := (order_id)))
);

SELECT
  o.order_id, -- The order
  o.amount_total * 2 -- Twice its total
FROM marts.fct_orders AS o
"""


def _project(tmp_path, models: dict[str, str]):
    project = tmp_path / "project"
    copy_project(project)
    for name, sql in models.items():
        (project / "models" / "marts" / f"{name}.sql").write_text(sql)
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE})


def _violations(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


def test_each_violation_names_the_model_its_file_the_rule_and_the_fix(tmp_path):
    settings = _project(tmp_path, {"careless_orders": CARELESS, "confused_orders": CONFUSED, "unnamed_orders": UNNAMED})
    with pytest.raises(PlatformError) as refused:
        open_context(settings)
    message = str(refused.value)
    assert "Linter detected errors" not in message
    lines = _violations(message)
    found = {(line.split()[1].removeprefix("marts."), line.split("rule ")[1].split(":")[0]): line for line in lines}
    careless = {"noselectstar", "nomissingaudits", "nomissingowner", "nomissinggrain"}
    confused = {"ambiguousorinvalidcolumn", "noambiguousprojections", "nounnamedcolumns"}
    unnamed = {"nomissinggrain", "nounnamedcolumns"}
    assert careless | confused == set(FIXES)
    expected = {("careless_orders", r) for r in careless} | {("confused_orders", r) for r in confused}
    assert set(found) == expected | {("unnamed_orders", r) for r in unnamed}, lines
    for (model, rule), line in found.items():
        assert line.startswith(f"  - marts.{model} (models/marts/{model}.sql): rule {rule}: "), line
        assert line.endswith(f"Fix: {FIXES[rule]}."), line
    assert "no_such_column" in found["confused_orders", "ambiguousorinvalidcolumn"]
    assert "has no owner" in found["careless_orders", "nomissingowner"]
    assert "has no grain" in found["unnamed_orders", "nomissinggrain"]
    assert "`o.amount_total * 2` has no name (it would be published as `_col_1`)" in found["unnamed_orders", "nounnamedcolumns"]
    assert f"refuses {len(lines)} problem(s)" in message


def test_the_build_stops_with_the_same_message_and_a_clean_model_passes(tmp_path):
    settings = _project(tmp_path, {"careless_orders": CARELESS})
    with pytest.raises(PlatformError) as refused:
        build_prod(open_run(settings))
    assert "rule nomissingowner" in str(refused.value) and "Traceback" not in str(refused.value)

    fixed = CARELESS.replace("  cron", "  owner analytics,\n  grain order_id,\n  cron").replace(
        "SELECT * FROM marts.fct_orders", "SELECT order_id -- The order\nFROM marts.fct_orders"
    )
    fixed = fixed.replace(
        "description 'One row per order, written in a hurry.'",
        "description 'One row per order.',\n  audits (not_null(columns := (order_id)))",
    )
    settings = _project(tmp_path / "again", {"careless_orders": fixed})
    open_context(settings).close()
