-- The last 200 job runs: what ran, how it ended and how long it took.
select
  job,
  trigger,
  status,
  started_at,
  round(epoch(finished_at) - epoch(started_at), 1) as seconds,
  rows_out,
  coalesce(error, '') as error
from quality.job_runs
order by started_at desc
limit 200
