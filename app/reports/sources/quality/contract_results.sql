-- One row per contract check of a load in the last 30 days (rows in, valid, quarantined).
-- While the store has none, one row that only says whether the table exists.
select
  availability.is_available,
  contracts.source,
  contracts.table_name,
  contracts.load_id,
  contracts.rows_in,
  contracts.rows_valid,
  contracts.rows_quarantined,
  strftime(contracts.checked_at, '%Y-%m-%d %H:%M') as checked_at
from quality.availability as availability
left join quality.contract_results as contracts
  on contracts.checked_at >= (select snapshot_at from quality.snapshot) - interval 30 day
where availability.table_name = 'contract_results'
