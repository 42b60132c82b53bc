"""The one error type that the command line shows as a message, not a traceback; and how a library's
error becomes a message without the data values it quotes."""

import re


class PlatformError(Exception):
    """An expected failure: bad input, bad config, a busy lock, a failed audit.

    The message says what was wrong, where, and how to fix it. Entry points print
    it without a traceback and exit non-zero.
    """


class PartialFailure(PlatformError):
    """Work that was partly done: what it did is kept (and what comes after builds on it), the rest failed.
    Recorded as a `partial` run and alerted, never a success."""


class TableRefused(PlatformError):
    """A failure that is one table's own (its rows refused by its contract, the table missing from its database):
    the source's other tables can still load."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(message)
        self.table = table


# What a library's error message quotes of the data: a quoted value ('alice@example.com' as int64),
# or, from a CSV parser, the row after "got N:". Replaced before the message goes anywhere; a quoted
# name that follows `column`, `table` or `type` is kept (DuckDB: column "customer_id" ... of type "text").
_QUOTED = re.compile(r"(\w+ )?('[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`)")
_NAMED = ("column ", "table ", "type ")
_ROW_AFTER = re.compile(r"(got \d+(?: columns| fields)?)[:;] .*$")
# Arrow's cast errors name the value unquoted: "Integer value 300 not in range", "would lose data: 17408…"
_CAST_VALUE = re.compile(r"\b((?:Float|Integer|Decimal) value) \S+|(would lose data): .*$")
# An HTTP client's error names the URL it asked, whose query holds a cursor's last value (a row's) or a key.
_URL_QUERY = re.compile(r"(\w+://[^\s?#]+)[?#]\S*")


def without_values(text: str, limit: int = 300) -> str:
    """The first line of a library's error message with the values it quotes left out: errors name
    source, table, file, line, column and rule, never a row's value (the quarantine keeps those)."""
    line = (text.strip().splitlines() or [""])[0]
    line = _CAST_VALUE.sub(lambda m: f"{m.group(1)} …" if m.group(1) else m.group(2), line)
    line = _URL_QUERY.sub(r"\1?…", line)
    return _ROW_AFTER.sub(r"\1", _QUOTED.sub(_unquoted, line))[:limit]


def _unquoted(match: re.Match) -> str:
    before = match.group(1) or ""
    return match.group(0) if before in _NAMED else f"{before}'…'"


def describe_error(exc: BaseException) -> str:
    """A library's exception as `Type: first line`, without the values it quotes; a first line that ends
    in a colon (dlt: "... with exception:") is followed by the cause it raised from, described alike."""
    line = f"{type(exc).__name__}: {without_values(str(exc))}"
    if line.endswith(":") and exc.__cause__ is not None:
        return f"{line} {describe_error(exc.__cause__)}"
    return line
