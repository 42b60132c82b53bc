"""Source declarations: one per source, by kind, with secrets named by environment variable only."""

from __future__ import annotations

import pytest

from core.errors import PlatformError
from core.settings import load_settings
from core.settings_sources import RAW_NAME, FilesSource, PostgresSource, RestApiSource, SqliteSource
from tests.support.project import ROOT
from tests.support.sources import settings_with_sources

POSTGRES = {
    "kind": "postgres",
    "host": "db.internal",
    "database": "shop",
    "user": "loader",
    "password_env": "SHOP_PG_PASSWORD",
    "tables": {"orders": {"primary_key": "order_id", "cursor": "modified_at", "detect_hard_deletes": True}},
    "schedule": "*/15 * * * *",
    "freshness_sla_hours": 2,
    "contract": {"columns": "freeze", "data_type": "freeze"},
}
REST = {
    "kind": "rest_api",
    "base_url": "https://api.example.com/v1",
    "auth": {"type": "bearer", "token_env": "SHOP_API_TOKEN"},
    "endpoints": {"tickets": {"path": "tickets", "paginator": {"type": "cursor"}}},
}
FILES = {"kind": "files", "tables": {"refunds": {"pattern": "refunds/*.csv", "contract": "discard_row"}}}


def test_the_demo_shop_declares_schedule_sla_and_contracts():
    shop = load_settings(ROOT, env={}).sources["shop"]
    assert isinstance(shop, SqliteSource)
    assert (shop.schedule, shop.freshness_sla_hours, shop.contract) == ("0 * * * *", 26, "evolve")
    assert shop.quality.enabled and shop.quality.max_bad_share == 0.01


def test_every_kind_is_declared_in_config_and_secrets_come_from_the_environment(tmp_path):
    env = {"SHOP_PG_PASSWORD": "pw-1", "SHOP_API_TOKEN": "tok-2"}
    settings = settings_with_sources(tmp_path, {"pg": POSTGRES, "api": REST, "drops": FILES}, **env)
    assert isinstance(settings.sources["pg"], PostgresSource)
    assert isinstance(settings.sources["api"], RestApiSource)
    assert isinstance(settings.sources["drops"], FilesSource)
    assert settings.sources["pg"].schedule == "*/15 * * * *"
    assert settings.secret("SHOP_PG_PASSWORD") == "pw-1" and settings.secret("SHOP_API_TOKEN") == "tok-2"
    assert "pw-1" not in repr(settings) and "tok-2" not in repr(settings)
    assert settings.landing_path("drops") == tmp_path / "data" / "landing" / "drops"


def test_a_missing_secret_stops_startup_naming_the_variable(tmp_path):
    with pytest.raises(PlatformError, match=r"Source 'pg' needs the environment variable SHOP_PG_PASSWORD"):
        settings_with_sources(tmp_path, {"pg": POSTGRES})


def test_a_secret_written_into_config_is_refused(tmp_path):
    with pytest.raises(PlatformError, match=r"sources\.pg\.password: unknown key"):
        settings_with_sources(tmp_path, {"pg": {**POSTGRES, "password": "hunter2"}}, SHOP_PG_PASSWORD="x")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"kind": "oracle"}, r"sources\.pg\.kind"),
        ({"schedule": "every hour"}, r"sources\.pg\.schedule: .*5-field cron"),
        ({"schedule": "99 * * * *"}, r"sources\.pg\.schedule: .*not a valid cron"),
        ({"contract": "loose"}, r"sources\.pg\.contract"),
        ({"tables": {"orders": {"cursor": "modified_at; drop table x"}}}, r"sources\.pg\.tables\.orders\.cursor"),
    ],
)
def test_bad_declarations_name_the_key(tmp_path, change, where):
    with pytest.raises(PlatformError, match=where):
        settings_with_sources(tmp_path, {"pg": {**POSTGRES, **change}}, SHOP_PG_PASSWORD="x")


def test_a_files_table_declared_replace_is_refused_before_it_can_empty_raw(tmp_path):
    # A run that lands no file of such a table would load it as an empty replacement.
    drops = {"kind": "files", "tables": {"orders": {"pattern": "orders/*.csv", "write_disposition": "replace"}}}
    with pytest.raises(PlatformError, match=r"sources\.drops\.tables\.orders: .*empty it in raw"):
        settings_with_sources(tmp_path, {"drops": drops})


@pytest.mark.parametrize(
    ("declared", "named"),
    [
        ({"primary_key": "ID"}, "primary_key 'ID'"),
        ({"primary_key": ["order_id", "LineNo"]}, "primary_key 'LineNo'"),
        ({"personal": {"Email": "hash"}}, "personal 'Email'"),
        ({"cursor": "updated_at_"}, "cursor 'updated_at_'"),
        ({"soft_delete": "deleted__at"}, "soft_delete 'deleted__at'"),
    ],
)
def test_a_files_table_declares_its_columns_as_raw_names_them(tmp_path, declared, named):
    """A file's columns are read under raw's names (`ID` loads as `id`): a key, personal column, cursor or soft delete
    declared otherwise would never match them (the key check, the erasure of a subject on reingest)."""
    drops = {"kind": "files", "tables": {"orders": {"pattern": "orders/*.csv", **declared}}}
    with pytest.raises(PlatformError, match=rf"sources\.drops\.tables\.orders: (Value error, )?{named} is not a column name as raw has it"):
        settings_with_sources(tmp_path, {"drops": drops})


def test_every_name_a_files_table_may_declare_is_one_raw_keeps_as_it_is():
    import random

    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming, rng = NamingConvention(), random.Random(7)
    alphabet = "abcxyz019_ABZ -."
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    accepted = [name for name in names if RAW_NAME.match(name)]
    assert len(accepted) > 500
    assert [name for name in accepted if naming.normalize_identifier(name) != name] == []


@pytest.mark.parametrize(
    ("declared", "named"), [({"primary_key": "OrderID"}, "primary_key 'OrderID'"), ({"cursor": "UpdatedAt"}, "cursor 'UpdatedAt'")]
)
def test_a_database_table_declares_its_columns_as_raw_names_them(tmp_path, declared, named):
    """Every stage after the load knows a column by raw's name (`OrderID` loads as `order_id`)."""
    erp = {"kind": "sqlite", "path": "erp.db", "tables": {"orders": declared}}
    with pytest.raises(PlatformError, match=rf"sources\.erp\.tables\.orders: (Value error, )?{named} is not a column name as raw has it"):
        settings_with_sources(tmp_path, {"erp": erp})
