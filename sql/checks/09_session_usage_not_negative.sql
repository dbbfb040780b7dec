-- No hour of session_usage has negative usage.
--
-- The API's cumulative figures can dip (a reading lower than an earlier one); the usage rule takes the
-- running maximum, so a dip is never negative usage. A negative hour would lower a day's or a month's usage
-- below what was used and hide usage inside the sum of a period.
-- One row per session hour with a negative figure.
select session_id, hour, ingest_seconds, viewer_seconds
from session_usage
where ingest_seconds < 0 or viewer_seconds < 0
order by session_id, hour;
