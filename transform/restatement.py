"""What new raw data touched: which staging models to restate, and from which time on.

After an ingest, a staging model is stale where the raw layer holds a newer
version of a row than the model does (a new row, an update, a soft delete), or
where a row's hard delete (the raw views' `_deleted` flag) is not reflected yet:
flagged in `is_deleted`, or the row left out, depending on the model.
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


# How a staging model shows a deleted row, and so when its staged row is out of date.
_VERSION_DIFFERS = "staged.updated_at IS DISTINCT FROM raw.updated_at::TIMESTAMP"
FLAGS_DELETES = f"{_VERSION_DIFFERS} OR staged.is_deleted IS DISTINCT FROM (raw.deleted_at IS NOT NULL OR raw._deleted)"
DROPS_DELETES = f"CASE WHEN raw._deleted THEN staged.updated_at IS NOT NULL ELSE {_VERSION_DIFFERS} END"


@dataclass(frozen=True)
class StagingScope:
    """How one staging model relates to its raw table: its key, deletes, and (if incremental) its time partition."""

    model: str
    raw_table: str
    key: str
    time_sql: str | None = None  # None for FULL models, which are restated whole
    stale_sql: str = DROPS_DELETES  # when a staged row (or its absence) no longer matches the latest raw row


STAGING_SCOPES = (
    StagingScope("staging.stg_shop__orders", "raw_shop.orders", "order_id", "changed.ordered_at::TIMESTAMP", FLAGS_DELETES),
    StagingScope("staging.stg_shop__order_items", "raw_shop.order_items", "order_item_id", _ORDER_TIME),
    StagingScope("staging.stg_shop__payments", "raw_shop.payments", "payment_id", _ORDER_TIME),
    StagingScope("staging.stg_shop__customers", "raw_shop.customers", "customer_id", stale_sql=FLAGS_DELETES),
    StagingScope("staging.stg_shop__products", "raw_shop.products", "product_id"),
)


@dataclass
class Restatement:
    """The staging models to restate, their changed row counts, and the start of the time range."""

    models: list[str] = field(default_factory=list)
    changed_rows: dict[str, int] = field(default_factory=dict)
    start: dt.datetime | None = None


def _scope_sql(scope: StagingScope) -> str:
    time_sql = scope.time_sql or "NULL"
    return (
        f"WITH raw AS (SELECT * FROM {scope.raw_table} "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1), "
        f"changed AS (SELECT raw.* FROM raw LEFT JOIN {scope.model} AS staged ON staged.{scope.key} = raw.id "
        f"WHERE {scope.stale_sql}) "
        f"SELECT count(*), min({time_sql}) FROM changed"
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
