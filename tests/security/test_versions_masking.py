"""Masking follows the version read: an older version keeps the masks it was published with.

A personal column dropped from the declaration stays masked in the versions published while it was
declared; a mask made stricter today applies to every version at once; a version that recorded no
personal columns is refused to roles without access. Over the real API on loopback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from api.background import running
from api.keys import load_keys
from api.server import create_app
from core import accesslog
from core.lake import Lake
from core.privacy import PersonalColumn
from core.run_context import open_run
from core.settings import Settings
from publish.marts import marts_folder, publish_marts
from publish.reader import connect_published
from publish.snapshot import write_snapshot
from publish.versions import VERSIONS, read_version
from tests.support.project import settings_for
from tests.test_api import BUSINESS_KEY, KEY_HASHES, OPERATOR_KEY, get

pytestmark = pytest.mark.slow

KEYS = {"PLATFORM__API__KEYS": "{biz: business, ops: operator}"}
NAME_DROPPED = "{email: hash}"  # the demo declares {name: remove, email: hash}


def declaring(data_dir: Path, personal: str | None = None) -> Settings:
    overrides = {"PLATFORM__SOURCES__SHOP__TABLES__CUSTOMERS__PERSONAL": personal} if personal else {}
    return settings_for(data_dir, **KEYS, **overrides)


@pytest.fixture
def republished(built, tmp_path) -> tuple[Path, str, str]:
    """A copy of the published marts, then dim_customers published again after `name` left the declaration:
    the data folder, the first version and the new one."""
    data_dir = tmp_path / "data"
    shutil.copytree(built[0].lake_root / "curated", data_dir / built[0].lake.root / "curated")
    before = declaring(data_dir)
    first = read_version(Lake(before), marts_folder(before))
    assert first is not None and first.personal is not None
    assert first.personal["dim_customers"]["customer_name"].mask == "remove"
    after = declaring(data_dir, NAME_DROPPED)
    con, _ = connect_published(before, role="operator")
    with contextlib.closing(con):
        # what the lineage of the new declaration records: the e-mail only
        kept = {column: tag for column, tag in first.personal["dim_customers"].items() if column != "customer_name"}
        second = publish_marts(open_run(after), ["marts.dim_customers"], source=con, personal={"marts.dim_customers": kept}).version
    return data_dir, first.version, second


def test_an_older_version_is_masked_as_it_was_published(republished):
    data_dir, first, second = republished
    settings = declaring(data_dir, NAME_DROPPED)
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        old = get(f"{url}/marts/dim_customers/rows?version={first}&limit=5", key=BUSINESS_KEY)
        assert old.status == 200 and old.headers["x-data-version"] == first
        page = old.json()
        assert "customer_name" not in page["columns"] and all("customer_name" not in row for row in page["rows"])
        assert all(len(row["customer_email"]) == 16 and "@" not in row["customer_email"] for row in page["rows"])
        as_csv = get(f"{url}/marts/dim_customers/rows?version={first}&limit=5&format=csv", key=BUSINESS_KEY)
        assert as_csv.status == 200 and b"customer_name" not in as_csv.body.splitlines()[0]
        # the operator sees the names; the current version no longer declares them personal
        assert "customer_name" in get(f"{url}/marts/dim_customers/rows?version={first}&limit=1", key=OPERATOR_KEY).json()["columns"]
        current = get(f"{url}/marts/dim_customers/rows?limit=1", key=BUSINESS_KEY)
        assert current.headers["x-data-version"] == second and "customer_name" in current.json()["columns"]

    log = accesslog.recent(settings.meta_path, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    reads = log[(log["principal"] == "biz") & (log["status"] == 200)]
    assert set(reads["version"]) == {first, second}
    assert set(reads["client"]) == {"127.0.0.1"}


def test_a_version_that_recorded_no_personal_columns_is_refused_to_roles_without_access(republished):
    data_dir, first, _ = republished
    settings = declaring(data_dir, NAME_DROPPED)
    (Path(marts_folder(settings)) / VERSIONS / f"{first}.json").unlink()  # as a version published without the record
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        refused = get(f"{url}/marts/dim_customers/rows?version={first}&limit=5", key=BUSINESS_KEY)
        assert refused.status == 403 and refused.json()["error"] == "forbidden"
        assert first in refused.json()["message"] and "personal columns" in refused.json()["message"]
        assert b"@" not in refused.body
        assert get(f"{url}/marts/dim_customers/rows?version={first}&limit=5", key=OPERATOR_KEY).status == 200


def test_a_mask_made_stricter_today_applies_to_every_version_and_reader(republished):
    data_dir, first, _ = republished
    stricter = declaring(data_dir, "{email: remove}")
    with running(create_app(stricter, load_keys(stricter, KEY_HASHES))) as url:
        for version in (first, None):
            reply = get(f"{url}/marts/dim_customers/rows?limit=5" + (f"&version={version}" if version else ""), key=BUSINESS_KEY)
            assert reply.status == 200 and "customer_email" not in reply.json()["columns"], version
            assert "customer_name" not in reply.json()["columns"] or version is None
    con, _ = connect_published(stricter)  # the app, metrics and data browser read through it
    with contextlib.closing(con):
        assert "customer_email" not in {row[0] for row in con.execute("DESCRIBE marts.dim_customers").fetchall()}
    snapshot = write_snapshot(stricter).path  # the Evidence reports' copy
    with contextlib.closing(duckdb.connect(str(snapshot), read_only=True)) as copy:
        assert "customer_email" not in {row[0] for row in copy.execute("DESCRIBE marts.dim_customers").fetchall()}


def test_each_retained_version_keeps_its_own_manifest_and_pruning_drops_it(republished):
    data_dir, first, second = republished
    settings = declaring(data_dir, NAME_DROPPED)
    folder = Path(marts_folder(settings)) / VERSIONS
    assert {path.stem for path in folder.glob("*.json")} >= {first, second}
    recorded = json.loads((folder / f"{first}.json").read_text())
    assert recorded["tables"]["dim_customers"]["personal"]["customer_name"]["mask"] == "remove"
    assert read_version(Lake(settings), marts_folder(settings), first).personal["dim_customers"]["customer_name"] == PersonalColumn(
        "remove", ("shop.customers.name",)
    )
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        for _ in range(settings.run.publish_keep_versions):
            publish_marts(open_run(settings), ["marts.dim_customers"], source=con, personal={"marts.dim_customers": {}})
    assert not (folder / f"{first}.json").exists()
    assert len(list(folder.glob("*.json"))) == settings.run.publish_keep_versions


def test_a_column_the_current_version_records_as_personal_is_masked_in_older_versions_too(republished):
    data_dir, first, second = republished
    settings = declaring(data_dir, "{email: hash, city: partial}")
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        old = f"{url}/marts/dim_customers/rows?version={first}&limit=20&columns=customer_id,customer_city"
        cities = [row["customer_city"] for row in get(old, key=BUSINESS_KEY).json()["rows"]]
        assert not any(city.endswith("***") for city in cities)  # no version records the city yet
        current = read_version(Lake(settings), marts_folder(settings))
        city = PersonalColumn("partial", ("shop.customers.city",))
        con, _ = connect_published(settings, role="operator")
        with contextlib.closing(con):
            personal = {"marts.dim_customers": {**current.personal["dim_customers"], "customer_city": city}}
            publish_marts(open_run(settings), ["marts.dim_customers"], source=con, personal=personal)
        masked = [row["customer_city"] for row in get(old, key=BUSINESS_KEY).json()["rows"]]
        assert masked == [f"{name[0]}***" for name in cities]
