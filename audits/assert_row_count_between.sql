-- Row count within expected bounds: catches a model that came out empty or
-- exploded (a fan-out join). Returns one row when the count is out of bounds.
AUDIT (
  name assert_row_count_between
);

SELECT count(*) AS row_count
FROM @this_model
HAVING count(*) < @min_rows OR count(*) > @max_rows
