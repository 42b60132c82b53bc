"""The SQL that SQLMesh executes, as its engine adapter logs it: what a build read and merged."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

_MERGED = re.compile(r'CREATE TABLE "\w+"\."sqlmesh__staging"\."__temp_staging__(\w+?)__\d+\w*" AS (.*)', re.S)


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL that SQLMesh executes meanwhile (its engine adapter logs each statement)."""
    seen: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("sqlmesh.core.engine_adapter")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def merge_queries(seen: list[str]) -> dict[str, list[str]]:
    """Per model (its name without schema), the queries whose rows SQLMesh merged into it (its logical merge
    stages them in a temporary table)."""
    found: dict[str, list[str]] = {}
    for statement in seen:
        if match := _MERGED.search(statement):
            found.setdefault(match.group(1), []).append(match.group(2))
    return found
