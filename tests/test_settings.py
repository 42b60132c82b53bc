"""One typed config: validated, overridable from the environment, with errors that name the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import PlatformError
from core.settings import load_settings
from tests.support.project import ROOT, run_cli


def _project_with(tmp_path: Path, edit) -> Path:
    """A copy of config.yaml with `edit` applied to its platform section."""
    document = yaml.safe_load((ROOT / "config.yaml").read_text())
    edit(document["variables"]["platform"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def test_defaults_resolve_paths_under_the_project(tmp_path):
    settings = load_settings(ROOT, env={})
    assert settings.data_dir == ROOT / "data"
    assert settings.warehouse_path == ROOT / "data" / "warehouse.duckdb"
    assert settings.source_path("shop") == ROOT / "data" / "sources" / "shop.db"
    assert list(settings.sources["shop"].tables) == ["customers", "products", "orders", "order_items", "payments"]


def test_environment_overrides_nested_keys_with_types(tmp_path):
    settings = load_settings(
        ROOT, env={"PLATFORM__DATA_DIR": str(tmp_path), "PLATFORM__RUN__LOCK_WAIT_SECONDS": "0", "PLATFORM__DEMO__SCALE": "2.5"}
    )
    assert settings.data_dir == tmp_path
    assert settings.run.lock_wait_seconds == 0
    assert settings.demo.scale == 2.5


def test_unknown_key_is_refused_with_key_and_file(tmp_path):
    project = _project_with(tmp_path, lambda p: p["lake"].update(bakend="s3"))
    with pytest.raises(PlatformError) as caught:
        load_settings(project, env={})
    message = str(caught.value)
    assert "lake.bakend" in message and "unknown key" in message
    assert str(project / "config.yaml") in message


def test_invalid_value_is_refused_with_key(tmp_path):
    project = _project_with(tmp_path, lambda p: p["sources"]["shop"].update(kind="oracle"))
    with pytest.raises(PlatformError, match=r"sources\.shop\.kind"):
        load_settings(project, env={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(PlatformError) as caught:
        load_settings(ROOT, env={"PLATFORM__DEMO__SCALE": "-1"})
    assert "demo.scale" in str(caught.value)
    assert "PLATFORM__DEMO__SCALE" in str(caught.value)


def test_table_names_must_be_plain_identifiers(tmp_path):
    project = _project_with(tmp_path, lambda p: p["sources"]["shop"]["tables"].update({"orders; drop": {}}))
    with pytest.raises(PlatformError, match="sources.shop.tables"):
        load_settings(project, env={})


def test_missing_config_file_is_explained(tmp_path):
    with pytest.raises(PlatformError, match="No config.yaml"):
        load_settings(tmp_path, env={})


def test_dotenv_file_is_read(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / ".env").write_text("PLATFORM__DEMO__SEED=7\n")
    assert load_settings(tmp_path).demo.seed == 7


def test_cli_refuses_bad_config_without_traceback(tmp_path):
    result = run_cli("run", data_dir=tmp_path / "data", PLATFORM__DEMO__SCALE="zero")
    assert result.returncode == 1
    assert "demo.scale" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()
