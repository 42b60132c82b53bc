"""The analytics engineer's workflow, on a copy of the project: change a mart, plan dev, diff, promote."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.errors import PlatformError
from core.settings import load_settings
from pipeline.environments import plan_environment, promote
from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.project import ROOT, SMALL_SCALE, copy_project
from transform.audit_log import audit_rows
from transform.context import open_context
from transform.environments import diff_environments, list_environments

pytestmark = pytest.mark.slow


# A breaking edit (the average order value now spreads revenue over every order) plus a new column.
OLD_AOV = """  CASE
    WHEN per_day.count_orders_placed > per_day.count_cancelled_orders
    THEN (per_day.amount_revenue / (per_day.count_orders_placed - per_day.count_cancelled_orders))::DECIMAL(14, 2)
  END AS amount_average_order_value, -- Revenue per order not cancelled, in EUR; NULL on days without one"""
NEW_AOV = """  CASE
    WHEN per_day.count_orders_placed > 0 THEN (per_day.amount_revenue / per_day.count_orders_placed)::DECIMAL(14, 2)
  END AS amount_average_order_value, -- Revenue per order placed, in EUR; NULL on days without one
  CASE
    WHEN per_day.count_orders_placed > 0 THEN (per_day.count_cancelled_orders / per_day.count_orders_placed)::DECIMAL(7, 4) ELSE 0
  END::DECIMAL(7, 4) AS rate_cancelled, -- Share of the day's orders cancelled since (0 to 1)"""

OLD_EXPECTED = """        - {revenue_date: 2025-01-01, count_orders_placed: 3, count_cancelled_orders: 1, amount_revenue: 30.00, amount_average_order_value: 15.00, count_new_customers: 1}
        - {revenue_date: 2025-01-02, count_orders_placed: 0, count_cancelled_orders: 0, amount_revenue: 0.00, amount_average_order_value: null, count_new_customers: 0}
        - {revenue_date: 2025-01-03, count_orders_placed: 3, count_cancelled_orders: 2, amount_revenue: 8.00, amount_average_order_value: 8.00, count_new_customers: 1}"""
NEW_EXPECTED = """        - {revenue_date: 2025-01-01, count_orders_placed: 3, count_cancelled_orders: 1, amount_revenue: 30.00, amount_average_order_value: 10.00, rate_cancelled: 0.3333, count_new_customers: 1}
        - {revenue_date: 2025-01-02, count_orders_placed: 0, count_cancelled_orders: 0, amount_revenue: 0.00, amount_average_order_value: null, rate_cancelled: 0.0000, count_new_customers: 0}
        - {revenue_date: 2025-01-03, count_orders_placed: 3, count_cancelled_orders: 2, amount_revenue: 8.00, amount_average_order_value: 2.67, rate_cancelled: 0.6667, count_new_customers: 1}"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project with prod built and published from the small demo shop."""
    root = copy_project(tmp_path_factory.mktemp("project"), unit_tests=True)
    env = {
        "PLATFORM__DATA_DIR": str(root / "data"),
        "PLATFORM__DEMO__SCALE": SMALL_SCALE,
        "PLATFORM__RUN__LOCK_WAIT_SECONDS": "2",
    }
    settings = load_settings(root, env=env)
    run_all(settings)
    return root, settings, env


def test_a_plan_without_changes_rebuilds_nothing(project):
    _, settings, _ = project
    report = plan_environment(settings, "dev")
    assert not report.has_changes
    assert report.built == []
    con, manifest = connect_published(settings, environment="dev")
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] > 0


def test_changed_mart_plans_dev_diffs_and_promotes_without_rebuilding(project):
    root, settings, _ = project
    model = root / "models" / "marts" / "daily_revenue.sql"
    sql = model.read_text()
    assert OLD_AOV in sql
    model.write_text(sql.replace(OLD_AOV, NEW_AOV))

    # the unit test still expects the old logic: the plan stops and names it
    with pytest.raises(PlatformError) as caught:
        plan_environment(settings, "dev")
    assert "test_daily_revenue_fills_days_and_excludes_cancelled" in str(caught.value)
    unit_test = root / "tests" / "sqlmesh" / "test_daily_revenue.yaml"
    assert OLD_EXPECTED in unit_test.read_text()
    unit_test.write_text(unit_test.read_text().replace(OLD_EXPECTED, NEW_EXPECTED))

    report = plan_environment(settings, "dev")
    assert report.directly_modified == {"marts.daily_revenue": "breaking"}
    assert set(report.indirectly_modified) == {"marts.weekly_revenue", "marts.monthly_revenue"}
    assert set(report.built) == {"marts.daily_revenue", "marts.weekly_revenue", "marts.monthly_revenue"}
    assert set(report.backfill) == set(report.built)
    assert "rate_cancelled" in report.text_diffs["marts.daily_revenue"]

    # dev is published for review; prod is untouched
    dev, _ = connect_published(settings, environment="dev")
    with dev:
        dev_columns = {row[0] for row in dev.execute("DESCRIBE marts.daily_revenue").fetchall()}
    prod, _ = connect_published(settings)
    with prod:
        prod_columns = {row[0] for row in prod.execute("DESCRIBE marts.daily_revenue").fetchall()}
    assert "rate_cancelled" in dev_columns and "rate_cancelled" not in prod_columns

    (diff,) = diff_environments(settings, "dev", "prod", "marts.daily_revenue")
    assert diff.columns_only_in_source == ["rate_cancelled"] and diff.columns_only_in_target == []
    assert diff.source_rows == diff.target_rows > 0
    assert diff.source_only_rows == diff.target_only_rows == 0
    prod, _ = connect_published(settings)
    with prod:
        days_with_cancellations = prod.execute(
            "SELECT count(*) FROM marts.daily_revenue WHERE count_cancelled_orders > 0 AND count_orders_placed > count_cancelled_orders"
        ).fetchone()[0]
    assert diff.changed_rows == days_with_cancellations > 0
    all_diffs = {d.model for d in diff_environments(settings, "dev", "prod")}
    assert all_diffs == {"marts.daily_revenue", "marts.weekly_revenue", "marts.monthly_revenue"}

    promoted = promote(settings)
    assert "marts.daily_revenue" in promoted.directly_modified
    assert promoted.built == []  # prod now points at the tables dev built
    assert promoted.published_version is not None
    prod, _ = connect_published(settings)
    with prod:
        rates, cancelled = prod.execute(
            "SELECT count(*) FILTER (WHERE rate_cancelled > 0), count(*) FILTER (WHERE count_cancelled_orders > 0) FROM marts.daily_revenue"
        ).fetchone()
    assert rates == cancelled > 0
    assert diff_environments(settings, "dev", "prod") == []
    assert {row["environment"] for row in audit_rows(settings.meta_path)} >= {"prod", "dev"}


def test_envs_lists_environments_and_the_janitor_removes_expired_ones(project):
    _, settings, _ = project
    plan_environment(settings, "staging")
    environments, removed = list_environments(settings)
    assert {"prod", "dev", "staging"} <= {env.name for env in environments}
    assert removed == []

    context = open_context(settings)
    try:
        context.invalidate_environment("staging")  # expires it now
    finally:
        context.close()
    environments, removed = list_environments(settings)
    assert removed == ["staging"]
    assert "staging" not in {env.name for env in environments}


def test_cli_plan_shows_the_plan_and_rejects_prod(project):
    root, _, env = project
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")} | env
    command = [sys.executable, "-m", "pipeline.env_cli", "--project", str(root)]
    shown = subprocess.run([*command, "plan", "dev"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "Plan for dev" in shown.stdout and "Built:" in shown.stdout
    refused = subprocess.run([*command, "plan", "prod"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "just promote" in refused.stderr and "Traceback" not in refused.stderr
