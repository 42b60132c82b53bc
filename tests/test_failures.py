"""Clear failures: a missing source or a failing audit stops the run, and published marts stay as they were."""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import PlatformError
from pipeline.run import run_all
from publish.reader import connect_published, current_version
from tests.conftest import run_cli, settings_for

# These tests prove the SQLMesh audits; with pandera contracts on, ingestion would quarantine the bad row first.
NO_CONTRACTS = {"PLATFORM__SOURCES__SHOP__QUALITY__ENABLED": "false"}


def test_missing_source_file_is_a_clear_error(tmp_path):
    result = run_cli("run", data_dir=tmp_path / "data", PLATFORM__DEMO__SOURCE="none")
    assert result.returncode == 1
    assert "Source database" in result.stderr and "shop.db does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_audit_stops_the_build_and_keeps_the_published_marts(tmp_path):
    settings = settings_for(tmp_path / "data", **NO_CONTRACTS)
    first = run_all(settings)
    with sqlite3.connect(settings.source_path("shop")) as con:
        next_id = con.execute("SELECT max(id) + 1 FROM order_items").fetchone()[0]
        con.execute(
            "INSERT INTO order_items VALUES (?, 1, 1, 0, 9.99, '2099-01-01 00:00:00')", (next_id,)
        )  # quantity 0 breaks the staging audit
    with pytest.raises(PlatformError) as caught:
        run_all(settings)
    message = str(caught.value)
    assert "stg_shop__order_items" in message and "accepted_range" in message
    assert "published marts are unchanged" in message

    published = current_version(settings)
    assert published.version == first.published_version
    con, _ = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] == first.published_rows["fct_orders"]


def test_cli_shows_a_failing_audit_without_traceback(tmp_path):
    settings = settings_for(tmp_path / "data", **NO_CONTRACTS)
    run_all(settings)
    with sqlite3.connect(settings.source_path("shop")) as con:
        con.execute("UPDATE payments SET amount = -5, updated_at = '2099-01-01 00:00:00' WHERE id = 1")
    result = run_cli("run", data_dir=settings.data_dir, **NO_CONTRACTS)
    assert result.returncode == 1
    assert "stg_shop__payments" in result.stderr and "accepted_range" in result.stderr
    assert "Traceback" not in result.stderr
