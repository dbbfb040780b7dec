-- One row: how many polls of the day the database holds (0: another run archived the day meanwhile).
-- Reads: archive_day_polls.
select count(*) as polls
from archive_day_polls;
