-- One row per audit check of the last 30 days. While the store has none, one row that
-- only says whether the table exists (Evidence cannot serve an empty source result).
select
  availability.is_available,
  audits.environment,
  audits.model,
  audits.audit,
  case when audits.blocking then 'blocking' when not audits.blocking then 'warning' end as severity,
  audits.status,
  audits.failed_rows,
  strftime(audits.checked_at, '%Y-%m-%d %H:%M') as checked_at
from quality.availability as availability
left join quality.audit_results as audits
  on audits.checked_at >= (select snapshot_at from quality.snapshot) - interval 30 day
where availability.table_name = 'audit_results'
