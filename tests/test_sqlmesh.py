"""The SQLMesh project itself: lint-clean, unit tests pass, every model states owner, grain and audits."""

from __future__ import annotations

import contextlib

import pytest

from transform.context import open_context


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from tests.support.project import settings_for

    context = open_context(settings_for(tmp_path_factory.mktemp("sqlmesh") / "data"))
    with contextlib.closing(context):
        yield context


def _project_models(context):
    return [model for model in context.models.values() if not model.kind.is_external]


def test_unit_tests_pass_and_cover_every_mart(context):
    result = context.test()
    assert result.testsRun >= 15
    assert result.wasSuccessful(), [str(failure) for failure in result.failures + result.errors]
    logic = {model.name for model in _project_models(context) if model.name.startswith(("marts.", "intermediate."))}
    assert len(logic) >= 15
    assert logic <= context.models_with_tests


def test_linter_passes(context):
    context.lint_models()  # raises LinterError on any rule violation


def test_every_model_states_owner_grain_description_and_audits(context):
    for model in _project_models(context):
        assert model.owner, model.name
        assert model.grains, model.name
        assert model.description and "One row per" in model.description, model.name
        assert model.audits, model.name
        assert set(model.column_descriptions) == set(model.columns_to_types), model.name


def test_layers_follow_the_naming_convention(context):
    for model in _project_models(context):
        schema, name = model.name.split(".")
        folder = model._path.parent.name
        assert schema == folder, f"{model.name} lives in models/{folder}/"
        if schema == "staging":
            assert name.startswith("stg_") and "__" in name, model.name
        if schema == "intermediate":
            assert name.startswith("int_"), model.name


def test_kinds_fit_the_data(context):
    kinds = {model.name: model.kind.name.value for model in _project_models(context)}
    for fact in ("fct_orders", "fct_order_items", "fct_payments"):
        assert kinds[next(name for name in kinds if name.endswith("." + fact))] == "INCREMENTAL_BY_TIME_RANGE", fact
    for table in ("customers", "products", "orders", "order_items", "payments"):  # merged by key over the loads
        assert kinds[f"staging.stg_shop__{table}"] == "INCREMENTAL_BY_UNIQUE_KEY", table
    assert kinds["staging.stg_shop__customers_history"] == kinds["staging.stg_shop__products_history"] == "SCD_TYPE_2_BY_TIME"
    assert kinds["staging.stg_ref__calendar"] == "SEED"
    assert kinds["marts.dim_products"] == "FULL"


def test_every_model_has_a_cron_and_some_audits_warn_without_blocking(context):
    models = _project_models(context)
    assert all(model.cron for model in models)
    non_blocking = [
        (model.name, name) for model in models for name, args in model.audits if str(args.get("blocking", "")).upper() == "FALSE"
    ]
    assert ("marts.daily_revenue", "assert_fresh") in non_blocking


def test_the_models_run_within_the_configured_duckdb_memory(context):
    import duckdb

    limit = context.config.gateways[context.config.default_gateway].connection.connector_config["memory_limit"]
    with contextlib.closing(duckdb.connect()) as reference:
        reference.execute(f"SET memory_limit = '{limit}'")
        expected = reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert context.engine_adapter.fetchone("SELECT current_setting('memory_limit')")[0] == expected
