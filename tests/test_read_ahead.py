"""A file drop's next file is read on a thread while the one before it is written (ingest/read_ahead.py:
NextFile): read once, on the thread, its error raised where it is asked for, and never a file too large."""

from __future__ import annotations

import threading

import pytest

from core.errors import PlatformError
from ingest.read_ahead import READ_AHEAD_BYTES, NextFile


class Reads:
    """A reader that records which file each read was of, and on which thread."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, name: str) -> str:
        self.seen.append((name, threading.current_thread().name))
        if name == "bad":
            raise PlatformError("bad file")
        return name.upper()


def test_a_file_begun_ahead_is_read_once_on_the_thread():
    reads = Reads()
    ahead = NextFile(reads)
    ahead.start("b", size=10)
    assert ahead.take("a") == "A"  # not begun: read here
    assert ahead.take("b") == "B"
    ahead.close()
    assert sorted(name for name, _ in reads.seen) == ["a", "b"]  # each once
    threads = dict(reads.seen)
    assert threads["a"] == threading.current_thread().name and threads["b"].startswith("read-ahead")


def test_an_error_read_ahead_is_raised_when_the_file_is_asked_for():
    ahead = NextFile(Reads())
    ahead.start("bad", size=10)
    with pytest.raises(PlatformError, match="bad file"):
        ahead.take("bad")
    ahead.close()


def test_a_large_file_and_one_not_asked_for_are_read_in_place():
    reads = Reads()
    ahead = NextFile(reads)
    ahead.start("big", size=READ_AHEAD_BYTES + 1)
    assert reads.seen == []  # too large to hold beside the file being written
    ahead.start("c", size=10)
    ahead.start("d", size=10)  # c was not asked for: dropped (waited for), d begun
    assert ahead.take("d") == "D" and ahead.take("c") == "C"
    ahead.close()
    assert [name for name, thread in reads.seen if thread == threading.current_thread().name] == ["c"]
