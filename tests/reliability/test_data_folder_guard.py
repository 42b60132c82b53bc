"""The data folder is checked before anything uses it, and `just clean` deletes only what the platform wrote.

An empty `PLATFORM__DATA_DIR` once made the project root the data folder, and `just clean --yes` then
deleted the checkout. Both drills run on temporary copies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.errors import PlatformError
from core.settings import load_settings
from scheduler import cli as scheduler_cli
from tests.support.project import ROOT, copy_project, settings_for


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project with what a checkout holds beside its data: `.git`, pyproject.toml, source."""
    target = copy_project(tmp_path / "checkout")
    (target / ".git").mkdir()
    (target / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("~", "is empty"),  # YAML's null
        (".", "is the project folder"),
        ("{project}", "is the project folder"),
        ("{project}/..", "or holds it"),
        ("/", "the filesystem's root"),
        ("{repo}", "a folder holding .git"),
        ("{config}", "holding config.yaml"),
    ],
)
def test_a_data_folder_that_is_no_data_folder_is_refused(project, tmp_path, value, named):
    other = tmp_path / "other-project"
    other.mkdir()
    (other / ".git").mkdir()
    lone = tmp_path / "lone-config"
    lone.mkdir()
    (lone / "config.yaml").write_text("x: 1\n")
    data_dir = value.format(project=project, repo=other, config=lone)
    with pytest.raises(PlatformError) as refused:
        load_settings(project, env={"PLATFORM__DATA_DIR": data_dir})
    message = str(refused.value)
    assert named in message and "PLATFORM__DATA_DIR" in message and "\n" not in message


def test_clean_with_an_empty_data_dir_deletes_nothing(project, monkeypatch, capsys):
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PLATFORM__DATA_DIR", "")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    code = scheduler_cli.main(["--project", str(project), "clean", "--yes"])
    output = capsys.readouterr()
    assert code == 1
    assert "data_dir" in output.err and "is empty" in output.err and "Traceback" not in output.out + output.err
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_clean_deletes_what_the_platform_wrote_and_nothing_else(built_copy, monkeypatch, capsys):
    data = built_copy.data_dir
    written = sorted(entry.name for entry in data.iterdir())
    assert {"lake", "warehouse.duckdb", "meta.db", "dlt", "sources"} <= set(written), written
    (data / "notes.txt").write_text("the user's own file\n")
    (data / "exports").mkdir()
    (data / "exports" / "q3.csv").write_text("a,b\n")
    (data / "sources" / "erp.db").write_bytes(b"the user's own database")
    (data / "warehouse.duckdb.damaged-20260101T000000").write_bytes(b"moved aside by doctor")
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(data))

    assert scheduler_cli.main(["--project", str(ROOT), "clean", "--yes"]) == 0

    assert "left what it did not write: exports, notes.txt, sources" in " ".join(capsys.readouterr().out.split())
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == [
        "exports",
        "exports/q3.csv",
        "notes.txt",
        "sources",
        "sources/erp.db",
    ]


def test_clean_removes_a_data_folder_holding_only_what_the_platform_wrote(built_copy, monkeypatch):
    data = built_copy.data_dir
    for name in [k for k in os.environ if k.startswith("PLATFORM__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(data))
    assert scheduler_cli.main(["--project", str(ROOT), "clean", "--yes"]) == 0
    assert not data.exists()
    assert settings_for(data).data_dir == data  # the same folder is a valid data folder again
