"""DuckDB connections with extensions installed from the pinned PyPI wheels, never downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from core.errors import PlatformError


def sql_literal(text: str | Path) -> str:
    """A string (a path or URL) as a quoted SQL literal."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A plain identifier (letters, digits, underscores; settings validate them) double-quoted for SQL."""
    if not name.replace("_", "a").isalnum():
        raise PlatformError(f"{name!r} is not a plain identifier")
    return f'"{name}"'


def bundled_extension(name: str) -> Path:
    """The `.duckdb_extension` file that the `duckdb-extension-<name>` wheel ships."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise PlatformError(
            f"DuckDB extension '{name}' is not installed: add duckdb-extension-{name.replace('_', '-')}"
            f"=={duckdb.__version__} to pyproject.toml and run `uv sync`."
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    path = package_dir / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise PlatformError(f"{path} is missing: the extension wheel does not match DuckDB {duckdb.__version__}.")
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Install each extension from its wheel and load it; autoinstall stays off."""
    con.execute("SET autoinstall_known_extensions = false")
    for name in names:
        con.execute(f"INSTALL {sql_literal(bundled_extension(name))}")
        con.execute(f"LOAD {name}")


# Timestamps are UTC wall times in every layer: a cast of a zoned one (raw holds them so) to TIMESTAMP or DATE must
# not move it into the machine's time zone, DuckDB's default.
TIME_ZONE = "UTC"


def connect(path: Path | str = ":memory:", *, read_only: bool = False, extensions: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with autoinstall disabled, its time zone UTC and the given bundled extensions loaded."""
    con = duckdb.connect(str(path), read_only=read_only, config={"autoinstall_known_extensions": "false"})
    con.execute(f"SET TimeZone = {sql_literal(TIME_ZONE)}")
    load_extensions(con, extensions)
    return con
