"""`just app` and `just app-password`: serve the Streamlit app, make a password hash."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from app.auth import hash_password, load_users
from app.session import load_secret
from core.entrypoint import private_files
from core.errors import PlatformError
from core.settings import load_settings

ENTRY_POINT = Path(__file__).with_name("server.py")  # Streamlit and the login and download routes (app/server.py)
LOCALHOST = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def streamlit_command(settings, port: int | None = None) -> tuple[list[str], str]:
    """The `streamlit run` command line, and a line telling who can reach it."""
    address = settings.app.address if settings.app.users else LOCALHOST
    port = port or settings.app.port
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ENTRY_POINT),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
    ]
    if settings.app.users:
        notice = f"Serving http://{address}:{port} with login ({len(settings.app.users)} users)."
        if address not in LOOPBACK:
            notice += " Other machines reach it: serve it to them over HTTPS only, through a TLS proxy (docs/operations.md)."
    else:
        notice = f"No app users configured: open access, bound to http://{LOCALHOST}:{port} only."
    return command, notice


def serve(project: Path, port: int | None) -> None:
    """Check the settings and users, then replace this process with the Streamlit server."""
    settings = load_settings(project)
    env = {**_dotenv(project), **os.environ}
    if load_users(settings, env):  # a missing hash or session secret fails now, naming its variable
        load_secret(env)
    command, notice = streamlit_command(settings, port)
    print(notice, flush=True)
    os.chdir(settings.project_dir)
    os.execv(sys.executable, command)


def _dotenv(project: Path) -> dict:
    from dotenv import dotenv_values

    return dict(dotenv_values(project / ".env"))


def prompt_hash() -> None:
    """Ask for a password twice and print its hash, to put in APP_PASSWORD_HASH_<USER>."""
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise PlatformError("The passwords differ.")
    print(hash_password(first))


def print_page_times(project: Path) -> None:
    """Render every page under AppTest on the configured data; print cold and warm seconds per page."""
    import json

    from app.page_timing import time_pages

    load_settings(project)  # a bad config fails here with its message
    os.chdir(project)
    print(json.dumps(time_pages(), indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app", description="The Streamlit app.")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="serve the app (port from app.port)")
    serve_parser.add_argument("--port", type=int, help="override app.port")
    sub.add_parser("hash-password", help="print a password hash for an app user")
    sub.add_parser("time-pages", help="print each page's render time on the published data, as JSON")
    args = parser.parse_args(argv)
    private_files()
    try:
        if args.command == "serve":
            serve(args.project, args.port)
        elif args.command == "time-pages":
            print_page_times(args.project)
        else:
            prompt_hash()
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
