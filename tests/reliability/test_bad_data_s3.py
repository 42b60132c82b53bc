"""The ingestion's bad-input battery (tests/test_ingest_contracts.py, tests/test_ingest_files.py), again
with the lake on a loopback S3 server: raw, quarantine and contract results behave the same.

The cases are the existing test functions themselves, run with the lake's settings pointed at S3.
"""

from __future__ import annotations

import pytest

from core.lake import Lake
from tests import test_ingest_contracts as contracts
from tests import test_ingest_files as files
from tests.support import s3server, sources
from tests.support.project import settings_for

CASES = [
    contracts.test_invalid_shop_rows_are_quarantined_with_check_column_and_value,
    contracts.test_above_the_bad_row_share_the_load_is_refused_and_nothing_moves,
    files.test_bad_csv_rows_are_quarantined_with_reasons_and_good_rows_load,
    files.test_broken_json_lines_and_a_10_mb_field,
    files.test_empty_and_unreadable_files_are_rejected_with_a_reason,
    files.test_too_many_bad_rows_reject_that_file_alone_and_a_fixed_file_loads_once,
    files.test_quarantine_lists_rows_by_file_and_a_replayed_file_loads_again,
]


@pytest.fixture(scope="module")
def moto():
    server = s3server.start_moto()
    yield server
    server.stop()


@pytest.mark.parametrize("case", CASES, ids=[case.__name__.removeprefix("test_") for case in CASES])
def test_bad_input_on_the_s3_lake(case, moto, tmp_path, monkeypatch):
    env = moto.lake_env()
    monkeypatch.setattr(sources, "LAKE_ENV", env)
    monkeypatch.setattr(contracts, "settings_for", lambda data_dir, **more: settings_for(data_dir, **env, **more))
    Lake(settings_for(tmp_path / "data", **env)).ensure_layers()  # as `just run` does before ingesting
    case(tmp_path)
    assert not (tmp_path / "data" / "lake").exists(), "the lake was written locally, not on S3"
