"""Build the prod environment: apply model changes, restate only what new raw data touched, audit it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import parse_one
from sqlmesh import Context
from sqlmesh.utils.errors import SQLMeshError

from core import warehouse
from core.errors import PlatformError
from core.run_context import RunContext
from core.settings import Settings
from transform import state
from transform.audit_log import record_audits
from transform.console import PlanTally, TallyConsole
from transform.context import open_context, out_of_memory_hint, uses_spark
from transform.exact_types import refuse_inexact_types
from transform.raw_views import create_raw_views
from transform.restatement import Restatement, find_restatement, raw_loads, staging_scopes
from transform.spark_raw import create_spark_raw_views

PROD = "prod"


@dataclass
class BuildResult:
    """What one build did to prod."""

    tally: PlanTally
    models_total: int
    marts: list[str]
    restatement: Restatement = field(default_factory=Restatement)


def build_prod(run: RunContext, *, on_model: Callable[[str, int], None] | None = None) -> BuildResult:
    """Plan and apply prod; merge the staging models whose raw data changed, restate what reads them
    from the earliest touched order day on, and refresh the SCD type 2 history models.

    Staleness is found by comparing raw with staging, never from bookkeeping, so a load completed
    by a later run (after a crash) or a build that failed half-way is caught up by the next build.

    Blocking audits and unit tests stop the plan; the error names the model and the audit. Every audit
    outcome is recorded in the metadata store.
    """
    settings = run.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    on_spark = uses_spark(settings)
    if not on_spark:
        with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
            create_raw_views(con, run)
    console = TallyConsole(on_model)
    context = open_context(settings, console)
    try:
        if on_spark:
            create_spark_raw_views(context.engine_adapter.spark, settings)
        else:
            refuse_inexact_types(context)  # the types are DuckDB's: Spark types the same SQL its own way
        # Unit tests run for the models whose definition changed: a plan that changes no model skips them.
        context.plan(PROD, auto_apply=True, no_prompts=True, test_changed_only=True, skip_linter=True)  # open_context linted
        restatement = restate_new_data(context, run, console.tally.models_built)
        marts = sorted(model.name for model in context.models.values() if schema_of(model.name) == "marts")
        built_here = sum(1 for model in context.models.values() if not model.kind.is_external)
        return BuildResult(tally=console.tally, models_total=built_here, marts=marts, restatement=restatement)
    except SQLMeshError as exc:
        raise PlatformError(_failure_message(settings, exc, console.tally)) from None
    finally:
        record_audits(settings.meta_path, PROD, console.tally.audits)
        context.close()


def restate_new_data(context: Context, run: RunContext, built: set[str]) -> Restatement:
    """Merge (or restate) the staging models whose raw rows changed (those not just built), restate
    what reads them from the earliest changed time, and refresh history.

    The restatement is recorded in the warehouse before it is applied and cleared once it is, so a
    build that stopped half-way (staging restated, marts not yet) is finished by the next one, which
    would otherwise find staging level with raw. Nothing is compared when no load completed since
    the last comparison that was fully applied.
    """
    settings = run.settings
    raw = raw_loads(run)
    applied, pending = state.read(context.engine_adapter)
    known = {model.name for model in context.models.values()}
    pending.models = [name for name in pending.models if name in known]  # a model removed since is dropped
    if applied is not None and raw.names == applied.names and not pending.models:
        return Restatement()
    scopes = [scope for scope in staging_scopes(context.models.values(), settings) if scope.model not in built]
    # The comparison is written in DuckDB's SQL; SQLMesh renders it in another gateway's dialect.
    adapter = context.engine_adapter
    fetchone = lambda sql: adapter.fetchone(sql if adapter.dialect == "duckdb" else parse_one(sql, read="duckdb"))
    restatement = find_restatement(fetchone, scopes, raw.new_since(applied)).including(pending)
    if restatement.whole:
        restatement.start = None  # raw lost rows: what reads them is restated from the beginning
    if restatement.models:
        state.write(context.engine_adapter, applied, restatement)
        # A staging model incremental by key merges the keys of the loads not applied yet; one that raw
        # lost rows of, and any other kind, is restated (rebuilt from every load). History is refreshed in
        # the same run, before the restated marts read each day's product version from it.
        merged = [name for name in restatement.models if _merges(context, name) and name not in restatement.whole]
        rerun_latest(context, history_models(context, built) | {context.get_model(name).fqn for name in merged})
        restated = [name for name in restatement.models if name not in merged] + readers(context, merged)
        restated += [name for name in history_readers(context, restatement.models) if name not in restated]
        if restated:
            context.plan(
                PROD,
                restate_models=restated,
                start=restatement.start,
                auto_apply=True,
                no_prompts=True,
                skip_tests=True,
                skip_linter=True,
            )
    state.write(context.engine_adapter, raw, Restatement())
    return restatement


def _merges(context: Context, name: str) -> bool:
    return schema_of(context.get_model(name).fqn) == "staging" and context.get_model(name).kind.is_incremental_by_unique_key


def readers(context: Context, names: list[str]) -> list[str]:
    """The models that read any of `names` directly (and are not among them): restating them restates
    everything downstream."""
    fqns = {context.get_model(name).fqn for name in names}
    return sorted(model.name for model in context.models.values() if model.depends_on & fqns and model.fqn not in fqns)


def forget_applied_loads(context: Context) -> None:
    """Make the next build compare every key of raw with staging (after prod was pointed at tables
    that another environment built, from whatever raw held then)."""
    _, pending = state.read(context.engine_adapter)
    state.write(context.engine_adapter, None, pending)


def history_models(context: Context, built: set[str]) -> set[str]:
    """The SCD type 2 models that this build did not evaluate: their latest interval is evaluated again.

    SQLMesh evaluates such a model once per cron interval and never restates it (that would lose
    history); merging the current source rows again is safe and records the changes of today's loads.
    """
    return {m.fqn for m in context.models.values() if m.kind.is_scd_type_2 and m.name not in built}


def rerun_latest(context: Context, fqns: set[str]) -> None:
    """Evaluate the latest interval of each of these models again: a model that merges (incremental by
    key, SCD type 2) merges its new source rows without being rebuilt."""
    if not fqns:
        return
    # Prod's versions of just these models: `context.snapshots` would load every model's (about a second).
    prod = context.state_sync.get_environment(PROD)
    ids = [info.snapshot_id for info in (prod.snapshots if prod else []) if info.name in fqns]
    snapshots = list(context.state_sync.get_snapshots(ids).values())
    # Only the last interval: removing all of them would make SQLMesh rebuild the table from scratch.
    latest = [(snapshot, _last_interval(snapshot)) for snapshot in snapshots if snapshot.intervals]
    if not latest:
        return
    context.state_sync.remove_intervals(latest)
    if context.run(PROD, select_models=[snapshot.name for snapshot, _ in latest], no_auto_upstream=True).is_failure:
        # the interval stays missing: the next build evaluates it again
        names = ", ".join(sorted(snapshot.model.name for snapshot, _ in latest))
        raise SQLMeshError(f"evaluating the latest interval of {names} again failed")


def history_readers(context: Context, restated: list[str]) -> list[str]:
    """The models that read an SCD type 2 model whose raw table a restated staging model reads too.

    They keep each day's version of a row (a product's category that day), so a change restates
    them from when it was made; the history model itself is merged, never restated.
    """
    models = context.models.values()
    raw_read = {dep for model in models if model.name in restated for dep in model.depends_on}
    histories = {model.fqn for model in models if model.kind.is_scd_type_2 and model.depends_on & raw_read}
    return sorted(model.name for model in models if model.depends_on & histories)


def _last_interval(snapshot) -> tuple[int, int]:
    end = snapshot.intervals[-1][1]
    return (end - snapshot.node.interval_unit.milliseconds, end)


def schema_of(fqn: str) -> str:
    return fqn.split(".")[-2].strip('"')


def _failure_message(settings: Settings, exc: SQLMeshError, tally: PlanTally) -> str:
    details = tally.errors + [f"unit test failed: {name}" for name in tally.tests_failed]
    lines = [f"The SQLMesh build of prod failed: {exc}"] + [f"  - {line}" for line in details]
    hint = out_of_memory_hint(settings, "\n".join(lines))
    lines += [hint] if hint else []
    lines.append("Prod and the published marts are unchanged; fix the model or the data and run again.")
    return "\n".join(lines)
