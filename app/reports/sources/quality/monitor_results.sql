-- One row per monitor check of the last 7 days. While the store has none, one row that
-- only says whether the table exists.
select
  availability.is_available,
  monitors.check_name,
  monitors.subject,
  monitors.status,
  monitors.value,
  monitors.threshold,
  monitors.detail,
  strftime(monitors.checked_at, '%Y-%m-%d %H:%M') as checked_at
from quality.availability as availability
left join quality.monitor_results as monitors
  on monitors.checked_at >= (select snapshot_at from quality.snapshot) - interval 7 day
where availability.table_name = 'monitor_results'
