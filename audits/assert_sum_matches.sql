-- Reconciliation between two grains: the sum of `column` over this model equals
-- its sum over `source_model` (e.g. monthly revenue against daily revenue), so
-- that no period was dropped or double counted when rolling up.
AUDIT (
  name assert_sum_matches
);

WITH this_total AS (
  SELECT coalesce(sum(@column), 0) AS total
  FROM @this_model
),

source_total AS (
  SELECT coalesce(sum(@column), 0) AS total
  FROM @source_model
)

SELECT this_total.total, source_total.total AS expected_total
FROM this_total, source_total
WHERE this_total.total IS DISTINCT FROM source_total.total
