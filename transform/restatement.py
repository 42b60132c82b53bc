"""What new raw data touched: which staging models to restate, and from which time on.

After an ingest, a staging model is stale where the raw layer holds a newer
version of a row than the model does (a new row, an update, a soft delete).
The incremental order facts are partitioned by the time their order was placed,
so the restatement starts at the earliest such time among the touched rows -
a status change on an old order reaches back to that order's day - and runs to
the end. The comparison is by data, not bookkeeping, so a failed or repeated
build never loses track of what is stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

# The time of the order a row belongs to: the partition of the incremental order facts.
_ORDER_TIME = "(SELECT min(orders.ordered_at)::TIMESTAMP FROM raw_shop.orders AS orders WHERE orders.id = changed.order_id)"


@dataclass(frozen=True)
class StagingScope:
    """How one staging model relates to its raw table: its key, and (if incremental) its time partition."""

    model: str
    raw_table: str
    key: str
    time_sql: str | None = None  # None for FULL models, which are restated whole


STAGING_SCOPES = (
    StagingScope("staging.stg_shop__orders", "raw_shop.orders", "order_id", "changed.ordered_at::TIMESTAMP"),
    StagingScope("staging.stg_shop__order_items", "raw_shop.order_items", "order_item_id", _ORDER_TIME),
    StagingScope("staging.stg_shop__payments", "raw_shop.payments", "payment_id", _ORDER_TIME),
    StagingScope("staging.stg_shop__customers", "raw_shop.customers", "customer_id"),
    StagingScope("staging.stg_shop__products", "raw_shop.products", "product_id"),
)


@dataclass
class Restatement:
    """The staging models to restate, their changed row counts, and the start of the time range."""

    models: list[str] = field(default_factory=list)
    changed_rows: dict[str, int] = field(default_factory=dict)
    start: dt.datetime | None = None


def _scope_sql(scope: StagingScope) -> str:
    """Changed keys and their earliest time: raw versions newer than staging's row, or keys staging lacks.

    Older versions of a key are never newer than its staged row, so no dedup of raw is needed
    (a window over every raw version cost more than the join).
    """
    time_sql = scope.time_sql or "NULL"
    return (
        f"WITH changed AS (SELECT raw.* FROM {scope.raw_table} AS raw "
        f"LEFT JOIN {scope.model} AS staged ON staged.{scope.key} = raw.id "
        f"WHERE staged.{scope.key} IS NULL OR raw.updated_at::TIMESTAMP > staged.updated_at) "
        f"SELECT count(DISTINCT changed.id), min({time_sql}) FROM changed"
    )


def find_restatement(fetchone: Callable[[str], tuple], models: set[str]) -> Restatement:
    """Compare each staging model in `models` with the raw layer through `fetchone(sql)`."""
    result = Restatement()
    for scope in STAGING_SCOPES:
        if scope.model not in models:
            continue
        count, start = fetchone(_scope_sql(scope))
        if not count:
            continue
        result.models.append(scope.model)
        result.changed_rows[scope.model] = int(count)
        if start is not None:
            day = dt.datetime.combine(start.date(), dt.time())
            result.start = day if result.start is None else min(result.start, day)
    return result
