"""The platform's command line: thin commands over named functions (`python -m pipeline.cli --help`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.entrypoint import Command, command_parser, err, run_command
from core.errors import PlatformError
from core.settings import Settings, load_settings

out = Console()


def cmd_run(settings: Settings, args: argparse.Namespace) -> None:
    """Run every stage end to end and print a summary."""
    from pipeline.run import PartialRun, run_all

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def on_event(stage: str, message: str, done: int | None, total: int | None) -> None:
            if stage == "lock":  # also when stderr is no terminal (a live progress bar then shows nothing)
                err.print(f"{stage}: {message}", highlight=False)
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"{stage}: {message}", total=total)
            task = tasks[stage]
            progress.update(task, description=f"{stage}: {message}", total=total)
            if done is None and total:
                progress.advance(task)

        failed: PartialRun | None = None
        try:
            summary = run_all(settings, on_event)
        except PartialRun as partial:
            summary, failed = partial.summary, partial
    out.print(_summary_table(summary))
    for warning in summary.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if failed is not None:
        raise failed  # printed as the error, and `just run` exits 1


def _summary_table(summary) -> Table:
    table = Table(title="Run summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if summary.generated_source:
        table.add_row("demo source", _counts(summary.generated_source) + " (generated)")
    for source, rows in summary.rows_loaded.items():
        table.add_row(f"loaded from {source}", _counts(rows) if rows else "nothing new")
    for source in summary.failed_sources:
        table.add_row(f"loaded from {source}", "[red]FAILED: nothing of it loaded (see below)[/]")
    for failed in summary.failed_tables:
        table.add_row(f"loaded from {failed}", "[red]FAILED: nothing of this table loaded (see below)[/]")
    table.add_row("models built", f"{len(summary.models_built)} of {summary.models_total}")
    table.add_row("audits passed", str(summary.audits_passed))
    table.add_row("unit tests passed", str(summary.tests_run))
    state = f"new version ({summary.publish_reason})" if summary.publish_reason else "up to date, not rewritten"
    table.add_row("published", f"{summary.published_version}, {state}: {_counts(summary.published_rows)}")
    for name, path in summary.outputs.items():
        table.add_row(name, path)
    table.add_row("time", ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in summary.seconds.items()))
    return table


def _counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in rows.items())


def _demo_path(settings: Settings) -> Path:
    """The demo source's database; refused while the demo is off."""
    if not settings.demo.enabled:
        raise PlatformError("The demo shop is off (demo.enabled: false in config.yaml): set it to true to generate or advance it.")
    return settings.source_path(settings.demo.source)


def cmd_demo_day(settings: Settings, args: argparse.Namespace) -> None:
    """Advance the demo source by one simulated day (one at a time: a second waits for the first)."""
    from core.lock import writer_lock
    from demo.day import advance_day

    path = _demo_path(settings)
    if not path.exists():
        raise PlatformError(f"No demo source at {path}: run `just run` (or `just demo`) first.")
    with writer_lock(path.parent, purpose="demo-day", wait_seconds=settings.run.lock_wait_seconds):
        report = advance_day(path, seed=settings.demo.seed)
    changes = {k: v for k, v in report.as_dict().items() if k != "day" and v}
    out.print(f"Simulated {report.day}: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in changes.items()))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    """(Re)generate the demo source at a scale; refuses to overwrite without --force."""
    from demo.shop import generate

    path = _demo_path(settings)
    if path.exists() and not args.force:
        raise PlatformError(f"{path} exists. Pass --force to replace it (the lake keeps what it loaded).")
    scale = args.scale if args.scale is not None else settings.demo.scale
    counts = generate(
        path, seed=settings.demo.seed, scale=scale, start_date=settings.demo.start_date, history_days=settings.demo.history_days
    )
    out.print(f"Wrote {path}: {_counts(counts)}")


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    """Check the lake, raw files, warehouse, published versions, run log and lock; repair what can be."""
    from pipeline.recovery import doctor

    findings = doctor(settings, repair=not args.check, report=lambda line: err.print(line, highlight=False))
    table = Table(title="Doctor", title_justify="left")
    for column in ("check", "state", "detail"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.what, "ok" if finding.ok else "[red]PROBLEM[/]", finding.detail)
    out.print(table)
    problems = [f for f in findings if not f.ok]
    repaired = any(f.what.startswith("repair:") for f in findings)
    return 1 if problems and (args.check or not repaired) else 0


def cmd_reingest(settings: Settings, args: argparse.Namespace) -> None:
    """Read a source (or `source.table`) again whole from its source, then build and publish."""
    from pipeline.recovery import reingest

    source, _, table = args.target.partition(".")
    rows = reingest(settings, source, table or None, report=lambda line: err.print(line, highlight=False))
    out.print(f"Reingested {args.target}: {_counts(rows)}; built and published.")


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    """Erase one subject's personal data from every layer; print what was rewritten."""
    from pipeline.erasure import erase

    result = erase(settings, args.target, args.key, report=lambda line: err.print(line, highlight=False))
    table = Table(title=f"Erased {result.target} {result.key}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for layer, count in result.rewritten.items():
        table.add_row(layer, f"{count:,}")
    out.print(table)
    for left in result.left:
        out.print(f"[red]still holds a value:[/] {left} (not a file the erasure can rewrite; remove or clean it by hand)")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    return 1 if result.left else 0


def cmd_erasures(settings: Settings, args: argparse.Namespace) -> None:
    """List every erasure recorded (the erasure list that every ingest applies)."""
    from core.erasures import erasures

    table = Table(title="Erasures", title_justify="left")
    for column in ("started", "finished", "table", "key", "rewritten"):
        table.add_column(column)
    for erasure in erasures(settings.meta_path):
        rewritten = ", ".join(f"{layer} {count:,}" for layer, count in (erasure.rewritten or {}).items() if count)
        finished = erasure.finished_at or "[red]interrupted: run `just erase` again[/]"
        table.add_row(erasure.started_at, finished, f"{erasure.source}.{erasure.table}", erasure.key, rewritten)
    out.print(table)


def _erase_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="the table as source.table, e.g. shop.customers")
    parser.add_argument(
        "key", nargs="+", help="the subject's primary key, e.g. 17; a composite key as <column>=<value> per column, e.g. order_id=5 line=2"
    )


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only check; repair nothing")


def _reingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a source, or source.table, e.g. shop.orders")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", help="the config.yaml gateway that builds the models, e.g. spark (default: default_gateway)")


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, help="1.0 is 100,000 orders")
    parser.add_argument("--force", action="store_true", help="replace an existing source")


COMMANDS = {
    "run": Command(cmd_run, "run every stage end to end", _run_arguments),
    "demo-day": Command(cmd_demo_day, "advance the demo source by one simulated day"),
    "demo": Command(cmd_demo, "generate the demo source", _demo_arguments),
    "doctor": Command(
        cmd_doctor,
        "check the lake, warehouse, published versions, run log and lock; repair",
        _doctor_arguments,
        writes=lambda args: not args.check,
    ),
    "reingest": Command(cmd_reingest, "read a source or one table again whole, then build and publish", _reingest_arguments),
    "erase": Command(cmd_erase, "erase one subject's personal data from every layer", _erase_arguments),
    "erasures": Command(cmd_erasures, "list the erasures recorded"),
}


def parser() -> argparse.ArgumentParser:
    return command_parser("platform", "A single-node data platform.", COMMANDS)


def main(argv: list[str] | None = None) -> int:
    return run_command(parser(), COMMANDS, argv, settings_for=lambda args: _with_gateway(load_settings(args.project), args))


def _with_gateway(settings: Settings, args: argparse.Namespace) -> Settings:
    """`--gateway` overrides `transform.gateway` for this command."""
    gateway = getattr(args, "gateway", None)
    if gateway is None:
        return settings
    return settings.model_copy(update={"transform": settings.transform.model_copy(update={"gateway": gateway})})


if __name__ == "__main__":
    sys.exit(main())
