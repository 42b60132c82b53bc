"""The BI endpoint: a DuckDB file per role, rewritten on publish, read through SQLAlchemy's DuckDB dialect."""

from __future__ import annotations

import shutil

import sqlalchemy as sa

from core.run_context import open_run
from pipeline.stages import publish
from publish.bi import bi_path
from publish.reader import current_version
from tests.support.project import settings_for

BI_ENV = {
    "PLATFORM__API__BI_ROLES": "[business, operator]",
    "PLATFORM__API__MARTS": "{business: [daily_revenue, dim_customers]}",
}


def _engine(path) -> sa.Engine:
    return sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})


def test_each_role_gets_its_marts_masked_in_a_file_a_bi_tool_reads_without_the_lake(built_copy):
    settings = settings_for(built_copy.data_dir, **BI_ENV)
    assert not bi_path(settings, "business").exists()
    outcome = publish(open_run(settings), force=True)
    version = current_version(settings)
    assert version is not None and outcome.version == version.version
    # The files hold copies: with the lake gone, a BI tool still reads every mart.
    shutil.rmtree(settings.lake_root)
    business, operator = _engine(bi_path(settings, "business")), _engine(bi_path(settings, "operator"))
    try:
        assert sorted(sa.inspect(business).get_table_names(schema="marts")) == ["daily_revenue", "dim_customers"]
        assert {"fct_orders", "fct_payments", "daily_revenue"} <= set(sa.inspect(operator).get_table_names(schema="marts"))
        emails = "SELECT customer_id, customer_email FROM marts.dim_customers ORDER BY customer_id LIMIT 20"
        with business.connect() as masked, operator.connect() as shown:
            hidden = masked.execute(sa.text(emails)).all()
            clear = shown.execute(sa.text(emails)).all()
            assert [row[0] for row in hidden] == [row[0] for row in clear] and len(clear) == 20
            assert all("@" in row[1] for row in clear) and not any("@" in row[1] or row[1] in {c[1] for c in clear} for row in hidden)
            cited = masked.execute(sa.text("SELECT version, role FROM main.published_version")).one()
            assert tuple(cited) == (version.version, "business")
            assert masked.execute(sa.text("SELECT count(*) FROM duckdb_views() WHERE NOT internal")).scalar() == 0
    finally:
        business.dispose()
        operator.dispose()
