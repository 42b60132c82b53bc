"""`just mcp`: serve the MCP server for agents, over stdio (the default) or streamable HTTP on loopback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.entrypoint import guarded
from core.errors import PlatformError
from core.settings import load_settings

KEY_VARIABLE = "DUCKSTACK_API_KEY"


def serve(project: Path, http: bool, port: int) -> None:
    """Check the settings and every key's hash, then serve until the client closes stdio or Ctrl-C."""
    from dotenv import dotenv_values

    from api.keys import load_keys
    from mcp_server.reads import Reads
    from mcp_server.server import create_server

    settings = load_settings(project)
    keys = load_keys(settings, {**dotenv_values(project / ".env"), **os.environ})
    if not keys:
        raise PlatformError(
            "No API keys are configured, so every call would be refused: add one under `api.keys` in config.yaml "
            "(e.g. `keys: {agent: business}`), then make it with `just api-key agent`."
        )
    reads = Reads(settings, keys)
    # The models' documentation is loaded here, before any thread or event loop exists: SQLMesh may
    # fork workers to load them, which is safe only in a single-threaded process.
    reads.models()
    if http:
        print(f"Serving MCP (streamable HTTP) on http://127.0.0.1:{port}/mcp ({len(keys)} keys).", file=sys.stderr, flush=True)
        create_server(reads, port=port).run(transport="streamable-http")
    else:
        # stdout carries the protocol: nothing else may be printed there.
        create_server(reads, stdio_key=os.environ.get(KEY_VARIABLE)).run(transport="stdio")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcp", description="The MCP server: governed metrics and published marts for agents.")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1 instead of stdio")
    parser.add_argument("--port", type=int, default=8700, help="the HTTP port (with --http), 8700 by default")
    args = parser.parse_args(argv)
    return guarded(lambda: serve(args.project.resolve(), args.http, args.port))


if __name__ == "__main__":
    sys.exit(main())
