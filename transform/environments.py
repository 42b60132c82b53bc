"""Virtual environments: plan dev/staging, promote to prod, diff two environments, list and clean up.

SQLMesh keeps one physical table per model version; an environment is a set
of views over those tables. Planning `dev` builds only the models whose
definition changed (and what depends on them breakingly); promoting points prod
at the tables dev already built, so nothing is rebuilt twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlmesh import Context
from sqlmesh.core.plan import Plan
from sqlmesh.utils.errors import SQLMeshError

from core import warehouse
from core.errors import PlatformError
from core.lock import writer_lock
from core.run_context import open_run
from core.settings import Settings
from transform.audit_log import record_audits
from transform.build import PROD, forget_applied_loads, schema_of
from transform.console import PlanTally, TallyConsole
from transform.context import open_context, out_of_memory_hint, uses_spark
from transform.exact_types import refuse_inexact_types
from transform.raw_views import create_raw_views

ENVIRONMENT = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class PlanReport:
    """What a plan changed in an environment, and what applying it built."""

    environment: str
    directly_modified: dict[str, str] = field(default_factory=dict)  # model -> breaking / non-breaking ...
    indirectly_modified: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    backfill: dict[str, tuple[str, str]] = field(default_factory=dict)  # model -> (first day, last day)
    text_diffs: dict[str, str] = field(default_factory=dict)
    built: list[str] = field(default_factory=list)
    published_version: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.directly_modified or self.indirectly_modified or self.removed or self.backfill)


@dataclass
class ModelDiff:
    """One model compared between two environments (SQLMesh's table_diff)."""

    model: str
    source_rows: int
    target_rows: int
    changed_rows: int  # rows on both sides, by grain, whose values differ
    source_only_rows: int
    target_only_rows: int
    columns_only_in_source: list[str]
    columns_only_in_target: list[str]
    columns_retyped: list[str]


@dataclass
class EnvironmentInfo:
    name: str
    models: int
    expires_at: str | None
    promoted_at: str | None


def check_environment(name: str) -> str:
    if not ENVIRONMENT.match(name):
        raise PlatformError(f"Not an environment name: {name!r} (lower-case letters, digits and _, starting with a letter).")
    return name


def _lock(settings: Settings, purpose: str, on_wait: Callable[[dict], None] | None = None):
    return writer_lock(settings.data_dir, purpose=purpose, wait_seconds=settings.run.lock_wait_seconds, on_wait=on_wait)


@contextlib.contextmanager
def _sqlmesh(settings: Settings, purpose: str, on_model=None) -> Iterator[tuple[Context, TallyConsole]]:
    """Fresh raw views and an open context with a tallying console; the caller holds the writer lock."""
    if uses_spark(settings):
        raise PlatformError(
            f"{purpose} runs on the DuckDB gateway only: the spark gateway builds and publishes prod "
            "(`just run --gateway spark`). Unset transform.gateway (PLATFORM__TRANSFORM__GATEWAY) for environments."
        )
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        create_raw_views(con, open_run(settings))
    console = TallyConsole(on_model)
    context = open_context(settings, console)
    try:
        refuse_inexact_types(context)
        yield context, console
    except SQLMeshError as exc:
        raise PlatformError(_failure(settings, purpose, exc, console.tally)) from None
    finally:
        context.close()


def plan_environment(
    settings: Settings, environment: str, on_model: Callable[[str, int], None] | None = None
) -> tuple[PlanReport, list[str]]:
    """Create or update `environment` (any name but prod), show what changed, build it; return the
    report and the environment's marts. The caller holds the writer lock and publishes."""
    environment = check_environment(environment)
    if environment == PROD:
        raise PlatformError("Plan prod with `just promote`; `just plan` is for virtual environments such as dev or staging.")
    with _sqlmesh(settings, f"plan {environment}", on_model) as (context, console):
        return _apply(context, console, environment, settings), _marts(context)


def promote(settings: Settings, on_model: Callable[[str, int], None] | None = None) -> PlanReport:
    """Plan prod: point it at what the virtual environments already built and build only what is missing
    (failing audits block it). The caller holds the writer lock, builds and publishes.

    The environments built their tables from whatever raw held then, so a promotion that changed prod
    makes the next build compare every key of raw with staging."""
    with _sqlmesh(settings, "promote", on_model) as (context, console):
        report = _apply(context, console, PROD, settings)
        if report.has_changes or report.built:
            forget_applied_loads(context)
    return report


def _marts(context: Context) -> list[str]:
    return sorted(model.name for model in context.models.values() if schema_of(model.name) == "marts")


def _apply(context: Context, console: TallyConsole, environment: str, settings: Settings) -> PlanReport:
    is_dev = environment != PROD
    # unit tests run for the models whose definition changed, so a plan that changes nothing is quick
    plan = context.plan_builder(environment, include_unmodified=is_dev, test_changed_only=True, skip_linter=True).build()
    report = describe_plan(plan, environment)
    try:
        context.apply(plan)
    finally:
        record_audits(settings.meta_path, environment, console.tally.audits)
    report.built = sorted(console.tally.models_built)
    report.warnings = console.tally.warnings
    return report


def describe_plan(plan: Plan, environment: str) -> PlanReport:
    """The plan as an analytics engineer reads it: what changed, how, and what will be backfilled."""
    report = PlanReport(environment=environment)
    snapshots = plan.context_diff.snapshots
    for s_id in sorted(plan.directly_modified, key=lambda s: s.name):
        snapshot = snapshots[s_id]
        report.directly_modified[snapshot.node.name] = _category(snapshot)
        report.text_diffs[snapshot.node.name] = plan.context_diff.text_diff(s_id.name)
    for children in plan.indirectly_modified.values():
        for s_id in children:
            snapshot = snapshots[s_id]
            report.indirectly_modified[snapshot.node.name] = _category(snapshot)
    report.removed = sorted(info.name for info in plan.context_diff.removed_snapshots.values())
    for missing in plan.missing_intervals:
        snapshot = snapshots[missing.snapshot_id]
        if missing.intervals:
            first, last = missing.intervals[0][0], missing.intervals[-1][1]
            report.backfill[snapshot.node.name] = (_day(first), _day(last - 1))
    return report


def _category(snapshot) -> str:
    category = snapshot.change_category
    return category.name.lower().replace("_", "-") if category is not None else "uncategorized"


def _day(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).date().isoformat()


def diff_environments(settings: Settings, source: str, target: str, model: str | None = None) -> list[ModelDiff]:
    """Compare `model` (or every model whose version differs) between two environments, row by row by grain."""
    source, target = check_environment(source), check_environment(target)
    with _lock(settings, f"diff {source} {target}"), _sqlmesh(settings, f"diff {source} {target}") as (context, _):
        found = {name: context.state_reader.get_environment(name) for name in (source, target)}
        envs = {name: env for name, env in found.items() if env is not None}
        for name in found.keys() - envs.keys():
            raise PlatformError(f"No environment named {name!r}: create it with `just plan {name}`.")
        if model is None:
            versions = {name: {s.name: s.fingerprint for s in env.snapshots} for name, env in envs.items()}
            models = sorted(
                name
                for name in set(versions[source]) & set(versions[target])
                if versions[source][name] != versions[target][name] and not context.get_model(name).kind.is_external
            )
        else:
            if model not in context.models and context.get_model(model) is None:
                raise PlatformError(f"No model named {model!r}.")
            models = [context.get_model(model).fqn]
        if not models:
            return []
        diffs = context.table_diff(source, target, select_models=models, show=False, skip_grain_check=True)
        return [_model_diff(diff) for diff in diffs]  # row_diff() queries lazily: inside the context


def _model_diff(diff) -> ModelDiff:
    rows, schema = diff.row_diff(), diff.schema_diff()
    return ModelDiff(
        model=diff.model_name or diff.source,
        source_rows=rows.source_count,
        target_rows=rows.target_count,
        changed_rows=rows.join_count - rows.full_match_count,
        source_only_rows=rows.s_only_count,
        target_only_rows=rows.t_only_count,
        columns_only_in_source=[name for name, _ in schema.removed],
        columns_only_in_target=[name for name, _ in schema.added],
        columns_retyped=sorted(schema.modified),
    )


def list_environments(settings: Settings) -> tuple[list[EnvironmentInfo], list[str]]:
    """Run the janitor (drop expired environments and unused tables), then list what is left.

    Returns the environments and the names of those the janitor removed.
    """
    with _lock(settings, "envs"), _sqlmesh(settings, "envs") as (context, _):
        before = {env.name for env in context.state_reader.get_environments()}
        context.run_janitor(ignore_ttl=False)
        environments = context.state_reader.get_environments()
    infos = [
        EnvironmentInfo(
            name=env.name,
            models=sum(1 for s in env.snapshots if not s.is_external),
            expires_at=_stamp(env.expiration_ts),
            promoted_at=_stamp(env.finalized_ts),
        )
        for env in sorted(environments, key=lambda e: e.name)
    ]
    return infos, sorted(before - {env.name for env in environments})


def _stamp(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).isoformat(timespec="minutes")


def _failure(settings: Settings, purpose: str, exc: SQLMeshError, tally: PlanTally) -> str:
    details = tally.errors + [f"unit test failed: {name}" for name in tally.tests_failed]
    lines = [f"SQLMesh {purpose} failed: {exc}"] + [f"  - {line}" for line in details]
    hint = out_of_memory_hint(settings, "\n".join(lines))
    lines += [hint] if hint else []
    lines.append("The environment is unchanged; fix the model or the data and plan again.")
    return "\n".join(lines)
