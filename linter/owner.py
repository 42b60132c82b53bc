"""Project lint rules that SQLMesh does not ship."""

from __future__ import annotations

from sqlmesh.core.linter.rule import Rule, RuleViolation
from sqlmesh.core.model import Model


class NoMissingOwner(Rule):
    """Every model names an owner, so a failing audit reaches a person."""

    def check_model(self, model: Model) -> RuleViolation | None:
        if model.owner or model.kind.is_symbolic:
            return None
        return self.violation(f"Model '{model.name}' has no owner.")
