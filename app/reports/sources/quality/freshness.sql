-- One row per declared source: its last successful load against its freshness SLA.
select source, last_loaded_at, hours_since_load, sla_hours, status
from quality.freshness
