"""pandera contracts at the ingestion boundary: `<source>__<table>.py` holds that table's `schema`.

Rows that fail are quarantined (lake://raw/<source>/_quarantine/<table>/) with the failed
check, column and value; see ingest/contracts.py. `coerce=True` lets text input (CSV,
JSON) be checked against the declared types.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

# Text is held as Arrow strings: checked by Arrow's kernels, never copied into Python objects
# (a plain `str` column works too, at several times the cost).
TEXT = pd.StringDtype("pyarrow")

# Timestamps outside this window are data errors (e.g. 0001-01-01 or 9999-12-31 placeholders).
EARLIEST = pd.Timestamp("2000-01-01")
LATEST = pd.Timestamp("2100-01-01")


def key() -> pa.Column:
    """A primary key: present, positive and unique within the batch (the first of a duplicate is kept)."""
    return pa.Column("int64", pa.Check.gt(0), nullable=False, unique=True, report_duplicates="exclude_first")


def reference() -> pa.Column:
    """A foreign key: present and positive."""
    return pa.Column("int64", pa.Check.gt(0), nullable=False)


UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _text_checks(pattern: str | None) -> list[pa.Check]:
    not_blank = pa.Check(lambda values: values.str.strip().str.len() > 0, name="not_blank", error="not_blank")
    if pattern is None:
        return [not_blank]
    return [not_blank, pa.Check(lambda values: values.str.fullmatch(pattern), name="matches", error=f"matches({pattern})")]


def text_key(*, pattern: str | None = None) -> pa.Column:
    """A text primary key (e.g. `ORD-0001`): present, not blank, matching `pattern` (a regular expression for
    the whole value) when given, and unique within the batch (the first of a duplicate is kept)."""
    return pa.Column(TEXT, _text_checks(pattern), nullable=False, unique=True, report_duplicates="exclude_first")


def uuid_key() -> pa.Column:
    """A UUID primary key, as text in its 8-4-4-4-12 hex form."""
    return text_key(pattern=UUID)


def text_reference(*, pattern: str | None = None) -> pa.Column:
    """A text foreign key: present, not blank, matching `pattern` when given."""
    return pa.Column(TEXT, _text_checks(pattern), nullable=False)


def uuid_reference() -> pa.Column:
    """A foreign key to a UUID key."""
    return text_reference(pattern=UUID)


def timestamp(*, nullable: bool = False) -> pa.Column:
    """A point in time in the plausible window; a nullable one may also be absent (e.g. from JSON)."""
    return pa.Column("datetime64[us]", pa.Check.in_range(EARLIEST, LATEST), nullable=nullable, required=not nullable)
