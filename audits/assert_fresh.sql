-- Freshness of the latest interval: the newest day in this model is no more
-- than `max_lag_days` behind the newest event loaded into the raw layer. The
-- clock is the data's, not the wall clock's, so a replayed or simulated source
-- (the demo lives in 2025) is judged by what was loaded.
AUDIT (
  name assert_fresh
);

WITH model AS (
  SELECT max(@date_column) AS latest_date
  FROM @this_model
),

source AS (
  SELECT max(@source_time_column)::DATE AS latest_date
  FROM @source_model
)

SELECT model.latest_date, source.latest_date AS source_latest_date
FROM model, source
WHERE source.latest_date IS NOT NULL
  AND (model.latest_date IS NULL OR model.latest_date < source.latest_date - @max_lag_days)
