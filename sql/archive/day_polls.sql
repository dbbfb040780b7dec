-- The polls of one UTC day (the day of each poll's first response), for the statements that follow in the
-- same transaction. Parameters: day.
create or replace temp table archive_day_polls as
select poll_id
from raw_responses
group by poll_id
having cast(min(fetched_at) as date) = getvariable('day');
