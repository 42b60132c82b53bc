"""The SQLMesh project itself: lint-clean, unit tests pass, every model states owner, grain and audits."""

from __future__ import annotations

import contextlib

import pytest

from transform.context import open_context


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from tests.conftest import settings_for

    context = open_context(settings_for(tmp_path_factory.mktemp("sqlmesh") / "data"))
    with contextlib.closing(context):
        yield context


def _project_models(context):
    return [model for model in context.models.values() if not model.kind.is_external]


def test_unit_tests_pass_and_cover_every_mart(context):
    result = context.test()
    assert result.testsRun >= 4
    assert result.wasSuccessful(), [str(failure) for failure in result.failures + result.errors]
    logic = {model.name for model in _project_models(context) if model.name.startswith(("marts.", "intermediate."))}
    assert len(logic) >= 4
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
        assert (schema, name.split("_")[0]) in {("staging", "stg"), ("intermediate", "int"), ("marts", "fct"), ("marts", "dim"), ("marts", "daily")}, model.name
