"""The licence gate (`python -m linter.licences`, in `just lint`): no GPL, AGPL, SSPL, BUSL or FSL package at runtime."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys

import pytest

from linter.licences import PROJECT, closure, offence, runtime_requirements
from tests.support.project import ROOT

# (License-Expression, License, licence classifiers) -> the family refused, or None when the package passes
CASES = [
    (("AGPL-3.0-only", None, []), "AGPL"),
    ((None, "GNU AFFERO GENERAL PUBLIC LICENSE\n  Version 3, 19 November 2007\n...", []), "AGPL"),
    (("GPL-3.0-or-later", None, []), "GPL"),
    ((None, None, ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"]), "GPL"),
    ((None, "GNU General Public License v2", []), "GPL"),
    (("SSPL-1.0", None, []), "SSPL"),
    ((None, "Server Side Public License", []), "SSPL"),
    (("BUSL-1.1", None, []), "BUSL"),
    ((None, "Business Source License 1.1", []), "BUSL"),
    (("FSL-1.1-Apache-2.0", None, []), "FSL"),
    ((None, "Functional Source License, Version 1.1, MIT Future License", []), "FSL"),
    (("LGPL-3.0-only", None, []), None),
    ((None, None, ["License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)"]), None),
    ((None, "GNU Library or Lesser General Public License (LGPL)", []), None),
    (("MIT OR GPL-2.0-only", None, []), None),  # a choice, one of them permissive
    (("GPL-2.0-only OR AGPL-3.0-only", None, []), "GPL"),
    (("Apache-2.0 AND GPL-3.0-only", None, []), "GPL"),  # both apply: the GPL binds
    (("GPL-3.0-or-later WITH GCC-exception-3.1", None, []), None),  # a linking exception
    ((None, None, ["License :: OSI Approved :: MIT License", "License :: OSI Approved :: GNU General Public License (GPL)"]), None),
    ((None, "MIT", ["License :: OSI Approved :: MIT License"]), None),
    (("Apache-2.0", "GPL", []), None),  # the expression is authoritative
    ((None, "UNKNOWN", []), None),
    ((None, None, []), None),
]


@pytest.mark.parametrize(("fields", "family"), CASES)
def test_the_gate_refuses_copyleft_network_and_source_available_licences(fields, family):
    expression, text, classifiers = fields
    found = offence("pkg", {"License-Expression": expression, "License": text, "Classifier": classifiers})
    assert (found.family if found else None) == family
    if found:
        assert found.package == "pkg" and found.licence


def test_the_closure_is_the_runtime_one_with_transitive_packages_and_no_dev_tools():
    packages = closure(runtime_requirements(PROJECT))
    assert {"duckdb", "streamlit", "sqlmesh", "fastapi"} <= set(packages)
    assert {"s3fs", "tornado", "sqlglot"} <= set(packages)  # through dlt[s3], streamlit, sqlmesh
    assert not {"pytest", "ruff", "mypy", "moto", "playwright", "import-linter"} & set(packages)  # the dev group


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_the_gate_names_each_offender_in_the_installed_environment():
    """Today the AGPL semantic layer (sidemantic, and its Rust core) are the only offenders; once gone, the gate passes."""
    expected = {name for name in ("sidemantic", "sidemantic-rs") if _installed(name)}
    result = subprocess.run([sys.executable, "-m", "linter.licences"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    named = {line.split()[2] for line in result.stderr.splitlines() if line.endswith(")") and " is " in line}
    assert named == expected, result.stderr
    assert result.returncode == (1 if expected else 0), result.stdout + result.stderr
    if expected:
        assert "sidemantic is AGPL-licensed" in result.stderr
    else:
        assert "none GPL, AGPL, SSPL, BUSL or FSL" in result.stdout
