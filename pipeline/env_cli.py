"""Environment commands: `plan ENV`, `promote`, `diff A B`, `envs` (`python -m pipeline.env_cli --help`)."""

from __future__ import annotations

import argparse
import logging
import sys

from rich.console import Console
from rich.table import Table

from core.entrypoint import Command, command_parser, err, run_command
from core.lock import describe_holder
from core.settings import Settings
from pipeline.environments import plan_environment, promote
from transform.environments import PlanReport, diff_environments, list_environments

out = Console()


def cmd_plan(settings: Settings, args: argparse.Namespace) -> None:
    """Create or update a virtual environment and show its plan."""
    show_plan(plan_environment(settings, args.environment, on_wait=_waiting))


def cmd_promote(settings: Settings, args: argparse.Namespace) -> None:
    """Plan prod from what the environments built; publish the prod marts."""
    show_plan(promote(settings, on_wait=_waiting))


def _waiting(holder: dict) -> None:
    err.print(f"lock: waiting for the writer lock ({describe_holder(holder)})", highlight=False)


def cmd_diff(settings: Settings, args: argparse.Namespace) -> None:
    """Compare models between two environments."""
    diffs = diff_environments(settings, args.source, args.target, args.model)
    if not diffs:
        out.print(f"No model differs between {args.source} and {args.target}.")
        return
    table = Table(title=f"{args.source} vs {args.target}", title_justify="left")
    for column in (
        "model",
        f"rows {args.source}",
        f"rows {args.target}",
        "changed",
        f"only {args.source}",
        f"only {args.target}",
        "schema",
    ):
        table.add_column(column, justify="left" if column in ("model", "schema") else "right")
    for diff in diffs:
        schema = "; ".join(
            part
            for part in (
                _listing(f"only in {args.source}:", diff.columns_only_in_source),
                _listing(f"only in {args.target}:", diff.columns_only_in_target),
                _listing("retyped:", diff.columns_retyped),
            )
            if part
        )
        table.add_row(
            diff.model,
            f"{diff.source_rows:,}",
            f"{diff.target_rows:,}",
            f"{diff.changed_rows:,}",
            f"{diff.source_only_rows:,}",
            f"{diff.target_only_rows:,}",
            schema or "same",
        )
    out.print(table)


def cmd_envs(settings: Settings, args: argparse.Namespace) -> None:
    """List environments after the janitor removed the expired ones."""
    environments, removed = list_environments(settings)
    table = Table(title="Environments", title_justify="left")
    for column in ("name", "models", "promoted", "expires"):
        table.add_column(column)
    for env in environments:
        table.add_row(env.name, str(env.models), env.promoted_at or "-", env.expires_at or "never")
    out.print(table)
    out.print(f"Janitor removed: {', '.join(removed)}" if removed else "Janitor: no expired environment.")


def show_plan(report: PlanReport) -> None:
    out.print(f"[bold]Plan for {report.environment}[/]")
    if not report.has_changes:
        out.print("  No changes: every model is up to date; nothing was rebuilt.")
    for title, models in (("Directly modified", report.directly_modified), ("Indirectly modified", report.indirectly_modified)):
        if models:
            out.print(f"  {title}:")
            for name, category in sorted(models.items()):
                out.print(f"    {name} ({category})")
    for name, text in report.text_diffs.items():
        if text.strip():
            out.print(f"  Diff of {name}:", highlight=False)
            out.print(text.rstrip(), highlight=False, markup=False)
    if report.removed:
        out.print("  Removed: " + ", ".join(report.removed))
    if report.backfill:
        out.print("  Backfill:")
        for name, (first, last) in sorted(report.backfill.items()):
            out.print(f"    {name}: {first} .. {last}")
    out.print(f"  Built: {', '.join(report.built) if report.built else 'nothing (views only)'}")
    if report.published_version:
        out.print(f"  Published marts of {report.environment}: version {report.published_version}")
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _listing(label: str, names: list[str]) -> str:
    return f"{label} {', '.join(names)}" if names else ""


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment", help="e.g. dev or staging")


def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="environment, e.g. dev")
    parser.add_argument("target", help="environment, e.g. prod")
    parser.add_argument("--model", help="one model, e.g. marts.daily_revenue (default: every model that differs)")


COMMANDS = {
    "plan": Command(cmd_plan, "create or update a virtual environment (dev, staging...) and show its plan", _plan_arguments),
    "promote": Command(cmd_promote, "plan prod: apply what the environments built; failing audits block it"),
    "diff": Command(cmd_diff, "compare models between two environments (row counts, changed rows, schema)", _diff_arguments),
    "envs": Command(cmd_envs, "list environments; the janitor removes expired ones"),
}


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("sqlmesh").setLevel(logging.ERROR)  # table_diff logs every query it runs as a warning
    parser = command_parser("platform-envs", "SQLMesh virtual environments.", COMMANDS)
    return run_command(parser, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
