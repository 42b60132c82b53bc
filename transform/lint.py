"""The project's lint rules (config.yaml `linter:`) as a refusal that names each model, rule and fix.

SQLMesh's own error says only that the linter found errors; its console, which lists them, is
silenced here. So the context is linted once when it is opened, and every error-level violation
is reported with the model, its file, the rule, the rule's message and the usual fix.
"""

from __future__ import annotations

from sqlmesh import Context

from core.errors import PlatformError

# A one-line fix per rule that config.yaml turns on.
FIXES = {
    "noselectstar": "name the columns the model returns instead of `SELECT *`, each with a `-- comment`",
    "nomissingaudits": "add `audits (not_null(columns := (<key>)), unique_values(columns := (<key>)))` to the MODEL block",
    "nomissingowner": "add `owner <team>` to the MODEL block (e.g. `owner data_platform`)",
    "ambiguousorinvalidcolumn": (
        "qualify the column with its table alias, or use a name that the upstream model or external_models.yaml declares"
    ),
    "noambiguousprojections": "give every selected expression its own name with `AS <name>`",
    "nomissinggrain": "add `grain <key column>` (or `grain (<column>, <column>)`) to the MODEL block",
    "nounnamedcolumns": "name the expression with `AS <name>` in the final SELECT",
}


def refuse_lint_errors(context: Context) -> None:
    """Raise PlatformError listing every error-level violation of the project's lint rules."""
    errors = [v for v in context.lint_models(raise_on_error=False) if v.violation_type == "error"]
    if not errors:
        return
    lines = [f"The SQLMesh linter refuses {len(errors)} problem(s) in the models (config.yaml `linter:`):"]
    for violation in sorted(errors, key=lambda v: (v.model.name, v.rule.name)):
        model = violation.model
        where = f" ({model._path.relative_to(context.path)})" if model._path and model._path.is_relative_to(context.path) else ""
        fix = FIXES.get(violation.rule.name, "see the rule's description in SQLMesh's linter documentation")
        lines.append(f"  - {model.name}{where}: rule {violation.rule.name}: {violation.violation_msg} Fix: {fix}.")
    lines.append("Nothing was built; fix the models and run again.")
    raise PlatformError("\n".join(lines))
