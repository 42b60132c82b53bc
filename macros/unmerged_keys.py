"""`@unmerged_keys(raw_<source>.<table>, key[, column])`: the rows a staging model incremental by key must read.

A declared table's staging model is `INCREMENTAL_BY_UNIQUE_KEY` over the completed loads: its source
CTE reads `WHERE @unmerged_keys(raw_shop.orders, id)` (a composite key: `(order_id, line_number)`).
A model that joins another raw table names it too, with the column its key is matched on:
`WHERE @unmerged_keys(raw_shop.order_items, id) OR @unmerged_keys(raw_shop.orders, order_id, id)`
also reads the lines whose `order_id` is the `id` of an order that a load not merged yet brought, so
a line that landed a load before its order is merged when the order lands.
The macro becomes `TRUE` (every load) whenever SQLMesh replaces the table: a model version's first
insert (a new version, the first build, a restatement) or a warehouse with no record of the loads it
applied. Otherwise it becomes the keys that the raw table's loads not in that record brought, and
every deleted key: the model's dedupe then sees every raw version of those keys, so the merged row is
the one a full build makes and merging a load twice changes nothing. The loads are told apart by
name (a set difference), never by comparing load ids, which dlt takes from the clock.

The record is `sqlmesh_platform.transform_state` (transform/state.py), written by a build only once
every staging model reflects the loads it names.
"""

from __future__ import annotations

import json

from sqlglot import exp
from sqlmesh import macro


@macro()
def unmerged_keys(evaluator, table, key, column=None):
    """A predicate on the rows read: their `key` is among `column` (default: `key`) of `table`'s rows
    in a load this model has not merged yet, or deleted (or TRUE)."""
    table = exp.to_table(table.sql(dialect=evaluator.dialect), dialect=evaluator.dialect)  # parsed as a column
    if evaluator.runtime_stage != "evaluating" or _replaces(evaluator):
        return exp.true()
    adapter = evaluator.engine_adapter
    if not adapter.table_exists("sqlmesh_platform.transform_state"):
        return exp.true()
    row = adapter.fetchone(exp.select("applied_loads").from_("sqlmesh_platform.transform_state"))
    if not row or not row[0]:
        return exp.true()  # no record (first build, or forgotten after a promote): read every load
    source = table.db.removeprefix("raw_")
    applied = {name.split("/", 1)[1] for name in json.loads(row[0]) if name.split("/", 1)[0] == source}
    loads = [load for (load,) in adapter.fetchall(exp.select("_dlt_load_id").distinct().from_(table.copy()))]
    new = sorted(load for load in loads if load not in applied)
    column = key if column is None else column
    touched = exp.select(*(column.expressions if isinstance(column, exp.Tuple) else [column])).from_(table.copy())
    touched = touched.where(exp.or_(exp.column("_dlt_load_id").isin(*(new or [exp.null()])), exp.column("_deleted")))
    return exp.In(this=key.copy(), query=exp.Subquery(this=touched))


def _replaces(evaluator) -> bool:
    """Whether SQLMesh replaces the table in this evaluation (its first insert), as its evaluator decides."""
    snapshot = evaluator.snapshots.get(evaluator.this_model_fqn)
    if snapshot is None:
        return True
    if not snapshot.categorized:
        return True  # not planned yet (`context.evaluate` of a new model): no table of it holds rows
    target = exp.to_table(evaluator.this_model)
    deployable = exp.to_table(snapshot.table_name(is_deployable=True))
    intervals = snapshot.intervals if target.name == deployable.name and target.db == deployable.db else snapshot.dev_intervals
    return not intervals or not evaluator.engine_adapter.table_exists(evaluator.this_model)
