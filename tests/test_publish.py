"""Publishing: a manifest switch makes a new version visible at once; old versions are pruned."""

from __future__ import annotations

import json

import pytest

from core.errors import PlatformError

from publish.marts import MANIFEST, marts_folder, publish_marts
from publish.reader import connect_published, current_version

MARTS = ["marts.daily_revenue", "marts.dim_customers", "marts.fct_orders"]


def test_each_publish_is_a_complete_new_version(built, tmp_path):
    settings, summary = built
    before = current_version(settings)
    result = publish_marts(settings, [f"marts.{name}" for name in summary.published_rows])
    after = current_version(settings)
    assert after.version == result.version != before.version
    assert after.rows == before.rows == summary.published_rows
    for name, file in after.files.items():
        assert file.is_file() and f"version={after.version}" in str(file)
    manifest = json.loads((marts_folder(settings) / MANIFEST).read_text())
    assert set(manifest["tables"]) == set(summary.published_rows) >= {"daily_revenue", "dim_customers", "fct_orders"}


def test_old_versions_are_pruned_but_the_current_one_stays(built):
    settings, _ = built
    for _ in range(settings.run.publish_keep_versions + 2):
        publish_marts(settings, MARTS)
    versions = sorted(p.name for p in (marts_folder(settings) / "fct_orders").glob("version=*"))
    assert len(versions) == settings.run.publish_keep_versions
    assert versions[-1] == f"version={current_version(settings).version}"
    con, published = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] == published.rows["fct_orders"]


def test_no_leftover_temporary_manifests(built):
    settings, _ = built
    assert not [p for p in marts_folder(settings).iterdir() if p.name.endswith(".tmp")]


def test_environments_publish_to_their_own_folder(built):
    settings, _ = built
    assert marts_folder(settings).name == "marts"
    assert marts_folder(settings, "dev").name == "marts__dev"
    assert current_version(settings, "dev") is None
    with pytest.raises(PlatformError, match="Nothing has been published for dev"):
        connect_published(settings, "dev")
    with pytest.raises(ValueError):
        marts_folder(settings, "dev; drop")
