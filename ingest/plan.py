"""What one source kind contributes to a load: its resources, and what to do once the load is done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.sql_ties import SharedKeys


@dataclass
class SourcePlan:
    """The dlt resources of one run, and a hook called with the load id once it completed.

    checked: the plan validated its rows itself (file drops, file by file), so no contract step is
    added to its resources. warnings: what the plan noticed while its resources were extracted.
    unique_keys: tables whose key the database keeps unique (a primary key or unique index on it), whose
    batches need no search for rows that share it. shared_keys: of the other tables of a SQL source, the key
    values that the database finds more than one differing row of, as each table's read begins.
    """

    resources: list
    after_load: Callable[[str], None] = lambda load_id: None
    checked: bool = False
    warnings: list[str] = field(default_factory=list)
    unique_keys: frozenset[str] = frozenset()
    shared_keys: dict[str, SharedKeys] = field(default_factory=dict)
