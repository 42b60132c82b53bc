"""`just metrics`: list the metric definitions, or query one (`just metrics query revenue --by month`)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from core.entrypoint import guarded
from core.errors import PlatformError
from core.settings import load_settings
from metrics import display, layer

out = Console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metrics", description="The business metrics, one definition each (metrics/definitions.yml).")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="every metric: label, format, owner, dimensions, description (the default)")
    query = sub.add_parser(
        "query", help="query metrics on the published marts, e.g. `query revenue orders --by month --where customer_city=Berlin`"
    )
    query.add_argument("metrics", nargs="+", help="metric names, from `just metrics`")
    query.add_argument("--by", action="append", default=[], help=f"a time grain ({', '.join(layer.GRAINS)}) or a dimension; repeatable")
    query.add_argument("--where", action="append", default=[], metavar="DIMENSION=VALUE[,VALUE]", help="keep only these values; repeatable")
    query.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
    query.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last day, YYYY-MM-DD")
    query.add_argument("--env", default="prod", help="published environment to read (prod by default)")
    query.add_argument(
        "--role",
        choices=("business", "operator"),
        help="read as this role: personal columns are masked unless it is in privacy.personal_data_roles (none given: masked)",
    )
    args = parser.parse_args(argv)
    if args.command == "query":
        return guarded(lambda: query_command(args))
    return guarded(list_command)


def list_command() -> None:
    """One block per metric, which reads at any terminal width: name, label, format and owner, then its description and cuts."""
    cat = layer.catalog()
    for m in cat.metrics.values():
        out.print(Text.assemble((m.name, "bold cyan"), "  ", (m.label, "bold"), f"  {m.format}, owned by {m.owner}"))
        details = Text(m.description + "\n", style="dim") + Text(f"cut by: {', '.join(m.dimensions) or 'nothing'}")
        out.print(Padding(details, (0, 0, 1, 4)))


def parse_query(args: argparse.Namespace) -> layer.Query:
    """The command's arguments as a layer query: `--by` words that are grains set the grain."""
    grains = [b for b in args.by if b in layer.GRAINS]
    if len(grains) > 1:
        raise PlatformError(f"Give one time grain with --by, not {', '.join(grains)}.")
    where = []
    for clause in args.where:
        name, sep, values = clause.partition("=")
        if not sep or not values:
            raise PlatformError(f"--where {clause!r}: write DIMENSION=VALUE, or DIMENSION=A,B for several values.")
        where.append((name.strip(), tuple(v.strip() for v in values.split(","))))
    return layer.Query(
        tuple(args.metrics),
        by=tuple(b for b in args.by if b not in layer.GRAINS),
        grain=grains[0] if grains else None,
        start=args.start,
        end=args.end,
        where=tuple(where),
    )


def query_command(args: argparse.Namespace) -> None:
    query = parse_query(args)
    settings = load_settings(args.project)
    from publish.reader import connect_published

    con, published = connect_published(settings, args.env, role=args.role)
    with contextlib.closing(con):
        frame = layer.run(con, query)
    shown = display.labelled(frame, layer.catalog(), query.grain)
    table = Table(*shown.columns, caption=f"{args.env}, published version {published.version}")
    for row in shown.itertuples(index=False):
        table.add_row(*map(str, row))
    out.print(table)


if __name__ == "__main__":
    sys.exit(main())
