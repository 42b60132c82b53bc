"""A quiet SQLMesh console that counts what a plan did, for the run summary and the progress bar."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp
from sqlmesh.core.console import NoopConsole
from sqlmesh.utils.errors import NodeAuditsErrors

from core.errors import describe_error
from transform.audit_log import AuditOutcome

# How SQLMesh words a failed non-blocking audit in its warning (sqlmesh.utils.errors.AuditError).
_AUDIT_WARNING = re.compile(r"'(?P<audit>[^']+)' audit error: (?P<rows>\d+) rows? failed")


@dataclass
class PlanTally:
    """What SQLMesh evaluated, audited and complained about during one or more plans."""

    models_built: set[str] = field(default_factory=set)
    audits_passed: int = 0
    audits_failed: int = 0
    tests_run: int = 0
    tests_failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    audits: list[AuditOutcome] = field(default_factory=list)
    model_seconds: dict[str, float] = field(default_factory=dict)  # evaluation and audits, summed over batches

    def slowest(self, count: int = 5) -> list[tuple[str, float]]:
        """The models that took longest, slowest first."""
        return sorted(self.model_seconds.items(), key=lambda item: (-item[1], item[0]))[:count]


class TallyConsole(NoopConsole):
    """Records evaluation progress; `on_model` is called as each model finishes."""

    def __init__(self, on_model: t.Callable[[str, int], None] | None = None) -> None:
        super().__init__()
        self.tally = PlanTally()
        self._on_model = on_model
        self._warned: dict[str, int] = {}  # non-blocking failures of the model being evaluated

    def start_evaluation_progress(self, batched_intervals, environment_naming_info, default_catalog, audit_only=False):
        self._total = len(batched_intervals)

    def update_snapshot_evaluation_progress(
        self, snapshot, interval, batch_idx, duration_ms, num_audits_passed, num_audits_failed, *args, **kwargs
    ) -> None:
        name = snapshot.model.name if snapshot.is_model else snapshot.name
        self.tally.models_built.add(name)
        self.tally.model_seconds[name] = self.tally.model_seconds.get(name, 0.0) + (duration_ms or 0) / 1000
        self.tally.audits_passed += num_audits_passed
        self.tally.audits_failed += num_audits_failed
        if snapshot.is_model and (num_audits_passed or num_audits_failed):
            self._record_audits(snapshot.model)
        if self._on_model is not None:
            self._on_model(name, getattr(self, "_total", 0))

    def log_test_results(self, result, target_dialect: str) -> None:
        self.tally.tests_run += result.testsRun
        for test, _ in [*result.failures, *result.errors]:
            self.tally.tests_failed.append(str(test))

    def _record_audits(self, model: t.Any) -> None:
        for audit, args in model.audits_with_args:
            rows = self._warned.pop(audit.name, 0)
            self.tally.audits.append(
                AuditOutcome(
                    model=model.name,
                    audit=_describe_audit(audit.name, args),
                    blocking=_is_blocking(audit, args),
                    status="warned" if rows else "passed",
                    failed_rows=rows,
                )
            )
        self._warned.clear()

    def log_warning(self, short_message: str, long_message: str | None = None) -> None:
        self.tally.warnings.append(short_message.strip())
        match = _AUDIT_WARNING.search(short_message)
        if match:
            self._warned[match["audit"]] = int(match["rows"])

    def log_error(self, message: str, *args: t.Any, **kwargs: t.Any) -> None:
        self.tally.errors.append(message)

    def log_failed_models(self, errors) -> None:
        for error in errors:
            cause = error.__cause__ or error
            if isinstance(cause, NodeAuditsErrors):
                self.tally.audits.extend(
                    AuditOutcome(audit.model_name or "?", _describe_audit(audit.audit_name, audit.audit_args), True, "failed", audit.count)
                    for audit in cause.errors
                )
                self.tally.errors.extend(
                    f"model {audit.model_name}: audit '{audit.audit_name}' failed on {audit.count} "
                    f"row{'s' if audit.count != 1 else ''}: {_describe_audit(audit.audit_name, audit.audit_args)}"
                    for audit in cause.errors
                )
            else:
                # DuckDB's errors quote the data (a value it could not cast): those go without the value
                described = describe_error(cause) if isinstance(cause, duckdb.Error) else cause
                self.tally.errors.append(f"{_node_name(error.node)}: {described}")


def _describe_audit(name: str, args: dict) -> str:
    """`not_null(columns := (a, b))`: the audit as written in the MODEL block, without `blocking`."""
    rendered = ", ".join(
        f"{key} := {value.sql() if isinstance(value, exp.Expression) else value}" for key, value in args.items() if key != "blocking"
    )
    return f"{name}({rendered})"


def _is_blocking(audit: t.Any, args: dict) -> bool:
    flag = args.get("blocking")
    if isinstance(flag, exp.Boolean):
        return flag.this
    return bool(getattr(audit, "blocking", True))


def _node_name(node: t.Any) -> str:
    snapshot_id = node[0] if isinstance(node, tuple) else node
    return getattr(snapshot_id, "name", str(snapshot_id))
