"""The demo shop's part of the SQLMesh project, left out of the build when the demo is off.

With `demo.enabled: false` the demo source is not declared (core/settings.py) and SQLMesh does
not load the models that read its raw tables, directly or through one another, nor their unit
tests: a project then builds only its own sources and models, from the same folders.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlglot import exp
from sqlmesh.core.dialect import Model as ModelBlock
from sqlmesh.core.dialect import parse

MODELS = "models"
UNIT_TESTS = "tests"


def demo_files(project_dir: Path, source: str) -> list[str]:
    """The model files (and unit test files) of the demo source `source`, relative to `project_dir`."""
    reads = {}
    for path in sorted((project_dir / MODELS).rglob("*.sql")):
        name, tables = _model_reads(path)
        if name:
            reads[name] = (path, tables)
    demo: set[str] = set()
    grown = True
    while grown:  # a model is the demo's if it reads the demo's raw tables or another demo model
        found = {name for name, (_, tables) in reads.items() if any(t.startswith(f"raw_{source}.") or t in demo for t in tables)}
        grown, demo = found > demo, demo | found
    files = [str(reads[name][0].relative_to(project_dir)) for name in sorted(demo)]
    return files + [str(path.relative_to(project_dir)) for path in _unit_tests_of(project_dir, demo, source)]


def _model_reads(path: Path) -> tuple[str | None, set[str]]:
    """The model's name and the `schema.table` names that its file mentions."""
    expressions = parse(path.read_text(), default_dialect="duckdb")
    block = expressions[0] if expressions and isinstance(expressions[0], ModelBlock) else None
    names = [prop.args["value"] for prop in (block.expressions if block else []) if prop.name == "name"]
    tables = {f"{table.db}.{table.name}" for expression in expressions for table in expression.find_all(exp.Table) if table.db}
    name = names[0].sql() if names else None
    return name, tables - {name}


def _unit_tests_of(project_dir: Path, models: set[str], source: str) -> list[Path]:
    """The SQLMesh unit test files with a test of one of `models`, or given rows of one of them or of
    the source's raw tables (a test of a model whose name a macro makes names it only so)."""
    found = []
    for path in sorted((project_dir / UNIT_TESTS).rglob("test_*.yaml")):
        tests = yaml.safe_load(path.read_text()) or {}
        tests = [test for test in tests.values() if isinstance(test, dict)] if isinstance(tests, dict) else []
        for test in tests:
            read = [test.get("model"), *(test.get("inputs") or {})]
            if any(name in models or str(name).startswith(f"raw_{source}.") for name in read):
                found.append(path)
                break
    return found
