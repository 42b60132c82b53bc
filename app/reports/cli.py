"""The reports' command line (`python -m app.reports.cli build|dev|check`): thin commands over app.reports.site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from core.entrypoint import guarded
from core.settings import load_settings

out = Console(soft_wrap=True)


def say(message: str) -> None:
    out.print(f"[bold cyan]reports:[/] {message}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reports", description="The Evidence reports over the published marts.")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="install from the lockfile, refresh the sources, check every query, build the site")
    sub.add_parser("dev", help="refresh the sources and serve the reports with live reload; other options go to `evidence dev`")
    sub.add_parser("check", help="refresh the snapshot and run every report query against it (no Node needed)")
    sub.add_parser("sources", help="write sources/metrics/*.sql from the metric definitions (metrics/definitions.yml)")
    args, evidence_args = parser.parse_known_args(argv)
    if evidence_args and args.command != "dev":
        parser.error(f"unrecognized arguments: {' '.join(evidence_args)}")
    return guarded(lambda: _run(args, evidence_args))


def _run(args: argparse.Namespace, evidence_args: list[str]) -> None:
    if args.command == "sources":
        from app.reports import metric_sources

        written = metric_sources.write()
        say(f"Wrote {len(written)} metric sources to {metric_sources.FOLDER}")
        return
    settings = load_settings(args.project)
    from app.reports import site

    if args.command == "build":
        result = site.build_site(settings, say)
        times = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in result.seconds.items())
        say(f"Built {result.site} from published version {result.snapshot.version} ({times})")
    elif args.command == "dev":
        site.serve_dev(settings, evidence_args, say)
    else:
        site.prepare(settings, say)


if __name__ == "__main__":
    sys.exit(main())
