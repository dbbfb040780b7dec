-- One row per request sent in the last `window_seconds` seconds on the budget `budget`, as epoch seconds, to
-- seed the budget of a new process with what earlier processes spent. Polls from before budgets were named
-- (budget null) count against every budget. Parameters: window_seconds, budget.
select epoch(r.fetched_at) as sent_at
from raw_responses as r
inner join poll_runs as p on p.poll_id = r.poll_id
where r.fetched_at > now() - to_seconds(getvariable('window_seconds')::double)
  and (p.budget is null or p.budget = getvariable('budget'))
order by sent_at;
