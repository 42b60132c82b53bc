"""Every model states its grain, as docs/tutorial.md teaches: what one row is, and the key that
the platform's restatement, the data browser and the audits read."""

from __future__ import annotations

from sqlmesh.core.linter.rule import Rule, RuleViolation
from sqlmesh.core.model import Model


class NoMissingGrain(Rule):
    """Every model that the project builds names its grain."""

    def check_model(self, model: Model) -> RuleViolation | None:
        if model.grains or model.kind.is_symbolic:
            return None
        return self.violation(f"Model '{model.name}' has no grain.")
