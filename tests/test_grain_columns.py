"""A staging model's grain as the restatement reads it: one column, bare or in parentheses, or a composite."""

from __future__ import annotations

import pytest
from sqlmesh.core.dialect import parse
from sqlmesh.core.model import load_sql_based_model

from transform.restatement import grain_columns


@pytest.mark.parametrize(("grain", "columns"), [("k0", ("k0",)), ("(k0)", ("k0",)), ("(k0, k1)", ("k0", "k1"))])
def test_a_grain_is_read_as_its_columns(grain: str, columns: tuple[str, ...]):
    model = load_sql_based_model(parse(f"MODEL (name s.m, kind FULL, grain {grain}); SELECT 1 AS k0, 2 AS k1", default_dialect="duckdb"))
    assert grain_columns(model) == columns
