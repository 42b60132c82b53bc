-- One row: the published version the reports show, and when the snapshot was taken (UTC).
select version, published_at, snapshot_at
from quality.snapshot
