-- One row per health table the reports read: is it in the metadata store yet?
select table_name, is_available, detail
from quality.availability
