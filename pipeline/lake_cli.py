"""The object-store commands behind the `just minio*` recipes (`python -m pipeline.lake_cli --help`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dotenv import dotenv_values
from rich.console import Console
from rich.table import Table

from core.entrypoint import Command, command_parser, run_command
from core.settings import Settings, load_settings
from pipeline import lake_admin

out = Console()


def cmd_minio(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the lake's endpoint with a local MinIO (data under data/minio) until Ctrl-C."""
    lake_admin.require_s3(settings)
    command = lake_admin.minio_command(settings)
    out.print(
        f"MinIO on http://{lake_admin.minio_address(settings)}, console {lake_admin.console_url(settings)} (loopback only), "
        f"root login: the lake's keys in .env; data in {command[2]}"
    )
    return lake_admin.run_minio(settings)


def cmd_buckets(settings: Settings, args: argparse.Namespace) -> int:
    """Create the layers' buckets if missing; list each with its object count and size."""
    created, buckets = lake_admin.buckets_with_usage(settings)
    table = Table("layer", "bucket", "objects", "size", title=f"Buckets at {settings.lake.s3.endpoint_url}", title_justify="left")
    for bucket in buckets:
        note = " (created now)" if bucket.bucket in created else ""
        table.add_row(bucket.layer, bucket.bucket + note, f"{bucket.objects:,}", _size(bucket.bytes))
    out.print(table)
    return 0


def cmd_upload_sample(settings: Settings, args: argparse.Namespace) -> int:
    """Upload a small demo shop as CSV files to the landing area of the raw layer."""
    urls = lake_admin.upload_sample(settings, scale=args.scale)
    out.print(f"Uploaded {len(urls)} sample files:")
    for url in urls:
        out.print(f"  {url}")
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check the lake's structure; exit 1 and say how to fix what is missing."""
    checks = lake_admin.verify_lake(settings)
    for check in checks:
        mark = "[green]ok[/]     " if check.ok else "[red]missing[/]"
        out.print(f"{mark} {check.what}" + ("" if check.ok else f" - {check.fix}"), highlight=False)
    missing = [check for check in checks if not check.ok]
    out.print(f"{len(checks) - len(missing)} of {len(checks)} present.")
    return 1 if missing else 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    """Print the MinIO console's URL."""
    lake_admin.require_s3(settings)
    out.print(lake_admin.console_url(settings))
    return 0


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return str(count)


def _upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=0.01, help="size of the sample shop (1.0 = 100,000 orders)")


COMMANDS = {
    "minio": Command(cmd_minio, "serve the lake's endpoint with a local MinIO (data under data/minio) until Ctrl-C"),
    "buckets": Command(cmd_buckets, "create the layers' buckets if missing; list each with its object count and size"),
    "upload-sample": Command(cmd_upload_sample, "upload a small demo shop as CSV files to the raw layer's landing area", _upload_arguments),
    "verify": Command(cmd_verify, "check the lake's structure; exit 1 and say how to fix what is missing"),
    "console": Command(cmd_console, "print the MinIO console's URL"),
}


def _settings(args: argparse.Namespace) -> Settings:
    """The settings; for `minio`, first the lake's keys, generated into `.env` when unset (they are MinIO's root login)."""
    if args.command == "minio":
        lake_admin.minio_root_login(load_settings(args.project, env={**_environment(args.project), "PLATFORM__LAKE__BACKEND": "local"}))
    return load_settings(args.project)


def _environment(project: Path) -> dict[str, str]:
    return {name: value for name, value in {**dotenv_values(project / ".env"), **os.environ}.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    return run_command(command_parser("lake", "The lake's object store.", COMMANDS), COMMANDS, argv, _settings)


if __name__ == "__main__":
    sys.exit(main())
