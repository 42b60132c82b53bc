"""`just api` and `just api-key`: serve the data API, make an API key and its hash."""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from pathlib import Path

from api.keys import hash_key, hash_variable, load_keys, new_key
from core.entrypoint import guarded
from core.errors import PlatformError
from core.settings import load_settings
from core.settings_fields import Identifier


def serve(project: Path, port: int | None) -> None:
    """Check the settings and every key's hash, then serve on api.address:api.port until Ctrl-C."""
    import uvicorn
    from dotenv import dotenv_values

    from api.server import create_app

    settings = load_settings(project)
    keys = load_keys(settings, {**dotenv_values(project / ".env"), **os.environ})
    if not keys:
        raise PlatformError(
            "No API keys are configured, so every request would be refused: add one under `api.keys` in config.yaml "
            "(e.g. `keys: {reporting: business}`), then make it with `just api-key reporting`."
        )
    port = port or settings.api.port
    docs = "docs at /docs" if settings.api.docs else "schema at /openapi.json"
    print(f"Serving the data API on http://{settings.api.address}:{port} ({len(keys)} keys; {docs}).", flush=True)
    uvicorn.run(create_app(settings, keys), host=settings.api.address, port=port, log_level="info", log_config=log_config())


class WithoutQuery(logging.Filter):
    """uvicorn's access log line with the path only: a query string holds filter values (an e-mail address)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True


def log_config() -> dict:
    """uvicorn's logging, its access log passed through `WithoutQuery`."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query"] = {"()": WithoutQuery}
    config["handlers"]["access"]["filters"] = ["without_query"]
    return config


def print_new_key(name: str) -> None:
    """A new key for `name`, to hand to its user, and the line that goes into `.env`."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(Identifier).validate_python(name)
    except ValidationError:
        raise PlatformError(f"{name!r} is not a key name: use lower-case letters, digits and underscores.") from None
    key = new_key()
    print(f"API key for '{name}' (give it to its user; it is not stored anywhere):\n  {key}")
    print(
        f"Put its hash in the environment or .env, and `{name}: business` (or operator) under api.keys:\n"
        f"  {hash_variable(name)}={hash_key(key)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="api", description="The read-only data API.")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding config.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="serve the API (address and port from the api settings)")
    serve_parser.add_argument("--port", type=int, help="override api.port")
    key_parser = sub.add_parser("new-key", help="print a new API key and its hash")
    key_parser.add_argument("name", help="the key's name under api.keys")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return guarded(lambda: serve(args.project.resolve(), args.port))
    return guarded(lambda: print_new_key(args.name))


if __name__ == "__main__":
    sys.exit(main())
