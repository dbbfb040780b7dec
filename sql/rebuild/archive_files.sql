-- Rebuild only: one row per archived day, with its file (relative to the archive folder) and how many raw
-- responses it held when it was written.
select day, file, responses
from raw_archive
order by day;
