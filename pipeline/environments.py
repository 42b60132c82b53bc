"""Planning a virtual environment and promoting to prod, with their publishes, under the writer lock."""

from __future__ import annotations

from collections.abc import Callable

from core.lock import writer_lock
from core.run_context import open_run
from core.settings import Settings
from pipeline import stages
from publish.marts import publish_marts
from transform import environments
from transform.environments import PlanReport
from transform.lineage import personal_columns

Waiting = Callable[[dict], None]


def plan_environment(
    settings: Settings, environment: str, on_model: Callable[[str, int], None] | None = None, on_wait: Waiting | None = None
) -> PlanReport:
    """Create or update `environment` (any name but prod), show what changed, build it, publish its marts."""
    purpose = f"plan {environment}"
    with writer_lock(settings.data_dir, purpose=purpose, wait_seconds=settings.run.lock_wait_seconds, on_wait=on_wait):
        report, marts = environments.plan_environment(settings, environment, on_model)
        published = publish_marts(open_run(settings), marts, environment=environment, personal=personal_columns(settings))
        report.published_version = published.version
    return report


def promote(settings: Settings, on_model: Callable[[str, int], None] | None = None, on_wait: Waiting | None = None) -> PlanReport:
    """Plan prod from what the environments built (failing audits block it); then build what raw holds
    that those tables miss, and publish prod the way every run does."""
    with writer_lock(settings.data_dir, purpose="promote", wait_seconds=settings.run.lock_wait_seconds, on_wait=on_wait):
        run = open_run(settings)
        owed = stages.mark_unpublished(settings)
        report = environments.promote(settings, on_model)
        if report.has_changes or report.built:
            build, outcome = stages.build_and_publish(run, on_model)
            report.built = sorted(set(report.built) | build.tally.models_built)
            report.warnings += build.tally.warnings
        else:
            if not owed:
                (settings.data_dir / stages.PENDING_MARKER).unlink()
            outcome = stages.publish(run)
            stages.check_published(run)
        report.published_version = outcome.version if outcome.reason else None
    return report
