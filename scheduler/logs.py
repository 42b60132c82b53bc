"""The structured log: one JSON object per line in data/logs/scheduler.log, shared by the service and its jobs."""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

FIELDS = ("job", "run_id", "status", "alert_key")
MAX_LOG_BYTES = 50_000_000


def log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / "scheduler.log"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(data_dir: Path, *, console: bool) -> None:
    """Send the platform's log records to the structured log, and to stderr for a person watching."""
    path = log_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Watched: the service rotates the file (see `rotate`), and every writer then reopens it.
    file_handler = logging.handlers.WatchedFileHandler(path)
    file_handler.setFormatter(JsonFormatter())
    handlers: list[logging.Handler] = [file_handler]
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        handlers.append(stream)
    for name, level in (("duckstack", logging.INFO), ("apscheduler", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)


def rotate(data_dir: Path) -> None:
    """Keep one previous generation of each log under data/logs once it passes MAX_LOG_BYTES."""
    for path in (data_dir / "logs").rglob("*.log"):
        if path.stat().st_size > MAX_LOG_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


def format_line(line: str) -> str:
    """One structured log line, for people."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return line.rstrip("\n")
    extra = " ".join(f"{k}={entry[k]}" for k in FIELDS if k in entry)
    return f"{entry['ts'][:19].replace('T', ' ')} {entry['level']:<7} {entry['msg']}" + (f"  ({extra})" if extra else "")


def tail(data_dir: Path, lines: int, follow: bool) -> Iterator[str]:
    """The last `lines` lines of the structured log, then (with follow) new ones as they come."""
    path = log_path(data_dir)
    if not path.exists():
        return
    with open(path) as handle:
        for line in collections.deque(handle, maxlen=lines):
            yield format_line(line)
        while follow:
            line = handle.readline()
            if line:
                yield format_line(line)
            else:
                time.sleep(0.5)
