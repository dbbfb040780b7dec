-- One row per request sent in the last `window_seconds` seconds, as epoch seconds, to seed the budget
-- of a new process with what earlier processes spent. Parameters: window_seconds.
select epoch(fetched_at) as sent_at
from raw_responses
where fetched_at > now() - to_seconds(getvariable('window_seconds')::double)
order by sent_at;
