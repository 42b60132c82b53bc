"""Every column a model returns has a name that someone wrote."""

from __future__ import annotations

import re

from sqlglot import exp
from sqlmesh.core.linter.rule import Rule, RuleViolation
from sqlmesh.core.model import Model

# The name that SQLMesh's rendering gives an expression written without `AS`.
GENERATED_NAME = re.compile(r"_col_\d+")


class NoUnnamedColumns(Rule):
    """An expression selected without `AS <name>` would be published as `_col_<n>`."""

    def check_model(self, model: Model) -> RuleViolation | None:
        query = model.render_query()
        if query is None:
            return None
        as_written = getattr(model, "query", None)
        for position, projection in enumerate(query.selects):
            if not projection.output_name or GENERATED_NAME.fullmatch(projection.output_name):
                published = f" (it would be published as `{projection.output_name}`)" if projection.output_name else ""
                # The projection as the model writes it, where the rendering kept the select list's shape.
                if isinstance(as_written, exp.Query) and len(as_written.selects) == len(query.selects):
                    projection = as_written.selects[position]
                written = projection.unalias().sql(dialect=model.dialect, comments=False)
                return self.violation(f"The selected expression `{written}` has no name{published}.")
        return None
