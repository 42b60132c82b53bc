"""Operator commands for the scheduler and the services (`python -m scheduler.cli --help`)."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import threading

from rich import box
from rich.console import Console
from rich.table import Table

from core import runlog
from core.entrypoint import Command, command_parser, run_command
from core.errors import PlatformError
from core.settings import Settings, load_settings
from scheduler import alerts, connections, logs, monitor, ops, services, store
from scheduler.jobs import job_specs, lookup
from scheduler.runner import Runner, job_log_path
from scheduler.service import Service

out = Console()


def _say(message: str) -> None:
    out.print(message, highlight=False)


def _table(title: str, rows: list[dict], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    """The scheduler in the foreground, logging to the terminal and to data/logs/scheduler.log."""
    _check_gateway(settings)
    logs.configure(settings.data_dir, console=True)
    Service(settings, reload_settings=lambda: load_settings(args.project)).serve()


def cmd_start(settings: Settings, args: argparse.Namespace) -> None:
    job_specs(settings)  # refuse a bad config before anything starts
    alerts.check_channels(settings)
    _check_gateway(settings)
    services.start(settings, _say)


def _check_gateway(settings: Settings) -> None:
    from transform.context import check_gateway  # imports SQLMesh: only for the commands that run jobs

    check_gateway(settings)


def cmd_stop(settings: Settings, args: argparse.Namespace) -> None:
    services.stop(settings, _say)


def cmd_restart(settings: Settings, args: argparse.Namespace) -> None:
    cmd_stop(settings, args)
    cmd_start(settings, args)


def cmd_status(settings: Settings, args: argparse.Namespace) -> None:
    out.print(_table("Services", services.status(settings), ["service", "state", "pid", "healthy"]))
    out.print(_table("Jobs", ops.job_overview(settings), ["job", "last_status", "last_age", "next_run", "last_error"]))
    open_alerts = alerts.open_alerts(settings.meta_path)
    opened = {alert["alert_key"] for alert in open_alerts}
    open_alerts += [
        {
            "alert_key": key,
            "severity": "error",
            "opened_at": "now (checked by status)",
            "message": f"{check.check_name} of {check.subject}: {check.detail}",
        }
        for check in monitor.freshness(settings)
        if check.status != "ok" and (key := f"{check.check_name}:{check.subject}") not in opened
    ]
    out.print(_table("Open alerts", open_alerts, ["alert_key", "severity", "opened_at", "message"]) if open_alerts else "No open alerts.")


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> None:
    out.print(_table("Schedule (UTC)", ops.job_overview(settings), ["job", "trigger", "next_run", "retries", "timeout_s", "writes"]))


def _runner(settings: Settings) -> Runner:
    """A runner for this terminal: Ctrl-C gives the running job its grace period, as a service stop does."""
    logs.configure(settings.data_dir, console=True)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    return Runner(settings, job_specs(settings), stopping)


def cmd_trigger(settings: Settings, args: argparse.Namespace) -> None:
    """Run a job now through the scheduler's path: retries, run log, alerts, then its dependants."""
    runner = _runner(settings)
    lookup(runner.specs, args.job)
    status = runner.run(args.job, "manual")
    _finish(settings, args.job, status)


def cmd_test_job(settings: Settings, args: argparse.Namespace) -> None:
    """Run one job alone: one attempt, no dependants, no alerts; show its output."""
    runner = _runner(settings)
    lookup(runner.specs, args.job)
    log_file = job_log_path(settings, args.job)
    offset = log_file.stat().st_size if log_file.exists() else 0
    status = runner.run(args.job, "manual", retries=False, cascade=False, alert=False)
    with open(log_file) as handle:
        handle.seek(offset)
        out.print(handle.read().rstrip(), highlight=False, markup=False)
    _finish(settings, args.job, status)


def _finish(settings: Settings, job: str, status: str) -> None:
    last = runlog.last_runs(settings.meta_path, 1, job=job)[0]
    if status != "success":
        raise PlatformError(f"Job {job} ended {status}: {last['error'] or 'no error recorded'}")
    rows = f", rows out {last['rows_out']:,}" if last["rows_out"] is not None else ""
    _say(f"Job {job}: success{rows}")


def cmd_pause(settings: Settings, args: argparse.Namespace, paused: bool = True) -> None:
    specs = job_specs(settings)
    lookup(specs, args.job)
    with store.opened(settings) as scheduler:
        store.set_paused(scheduler, specs, settings, args.job, paused)
    _say(f"{args.job} {'paused' if paused else 'resumed'}")


def cmd_resume(settings: Settings, args: argparse.Namespace) -> None:
    cmd_pause(settings, args, paused=False)


def cmd_logs(settings: Settings, args: argparse.Namespace) -> None:
    if not logs.log_path(settings.data_dir).exists():
        raise PlatformError(f"No log yet at {logs.log_path(settings.data_dir)}: start the scheduler with `just start` or `just serve`.")
    for line in logs.tail(settings.data_dir, args.lines, follow=not args.no_follow):
        print(line, flush=True)


def cmd_history(settings: Settings, args: argparse.Namespace) -> None:
    if args.job:
        lookup(job_specs(settings), args.job)
    rows = runlog.last_runs(settings.meta_path, args.limit, job=args.job)
    if not rows:
        out.print("No runs recorded yet.")
        return
    out.print(_history_table(f"Run history{' of ' + args.job if args.job else ''}", rows))
    for row in rows:
        if row.get("error"):
            _say(f"run {row['run_id']} ({row['job']}): {row['error']}")


def _history_table(title: str, rows: list[dict]) -> Table:
    """Runs in columns that fit 80 characters: the day once per row, times to the second, errors listed below the table."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("run", justify="right", no_wrap=True)
    table.add_column("job", no_wrap=True)
    table.add_column("trigger", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("rows in/out", justify="right", overflow="fold")
    for row in rows:
        took = _took(row.get("started_at"), row.get("finished_at"))
        rows_in_out = "/".join("–" if row.get(c) is None else f"{row[c]:,}" for c in ("rows_in", "rows_out"))
        status = row["status"] + ("" if (row.get("attempt") or 1) == 1 else f" (try {row['attempt']})")
        table.add_row(str(row["run_id"]), row["job"], row["trigger"], status, _moment(row.get("started_at")), took, rows_in_out)
    return table


def _took(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return "running" if started and not finished else ""
    seconds = (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds()
    return f"{seconds:,.1f}s"


def _moment(iso: str | None) -> str:
    return "" if not iso else iso.replace("T", " ")[:19]


def cmd_connections(settings: Settings, args: argparse.Namespace) -> None:
    rows = [c.__dict__ | {"reachable": "yes" if c.reachable else "NO"} for c in connections.check_all(settings)]
    out.print(_table("Connections", rows, ["kind", "name", "endpoint", "reachable", "detail"]))


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise PlatformError(f"{question} Not confirmed: pass --yes to confirm without a terminal.")
    if input(f"{question} Type 'yes' to go on: ").strip().lower() != "yes":
        raise PlatformError("Cancelled; nothing was changed.")


def cmd_reset(settings: Settings, args: argparse.Namespace) -> None:
    _confirm(args, f"This wipes the run history, alerts and scheduler state in {settings.data_dir} (dev only).")
    ops.reset(settings, _say)


def cmd_clean(settings: Settings, args: argparse.Namespace) -> None:
    _confirm(args, f"This stops the services and deletes {settings.data_dir} (lake, warehouse, history, logs).")
    ops.clean(settings, _say)


def _job(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="a job id, as `just jobs` lists them")


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", nargs="?", help="only this job")
    parser.add_argument("--limit", type=int, default=30)


def _logs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--lines", type=int, default=50)
    parser.add_argument("--no-follow", action="store_true", help="print and exit instead of following")


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


COMMANDS = {
    "setup": Command(lambda s, a: ops.setup(s, _say), "create .env from .env.example and the data folders"),
    "serve": Command(cmd_serve, "run the scheduler in the foreground"),
    "start": Command(cmd_start, "start the services in the background"),
    "stop": Command(cmd_stop, "stop the background services"),
    "restart": Command(cmd_restart, "stop, then start the services"),
    "status": Command(cmd_status, "services, last and next runs, open alerts"),
    "jobs": Command(cmd_jobs, "the schedule"),
    "trigger": Command(cmd_trigger, "run a job now, as the scheduler would", _job),
    "test-job": Command(cmd_test_job, "run one job alone, once, and show its output", _job),
    "pause": Command(cmd_pause, "pause a job", _job),
    "resume": Command(cmd_resume, "resume a paused job", _job),
    "logs": Command(cmd_logs, "tail the structured log", _logs_arguments),
    "history": Command(cmd_history, "recent runs, of all jobs or one", _history_arguments),
    "connections": Command(cmd_connections, "sources, storage and alert channels, checked live"),
    "reload": Command(lambda s, a: ops.reload(s, _say), "make the scheduler re-read config.yaml"),
    "reset": Command(cmd_reset, "wipe run history and scheduler state (dev only)", _yes),
    "clean": Command(cmd_clean, "stop the services and delete the generated data", _yes),
}


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("scheduler", "Run and operate the duckstack scheduler.", COMMANDS)
    return run_command(parser, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
