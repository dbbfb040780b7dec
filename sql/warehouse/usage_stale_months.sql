-- The months the stale sessions started in (null first: those that never started), one row each, in order:
-- after a migration their usage is computed a month of starts at a time (warehouse/usage_month.sql).
select distinct date_trunc('month', s.started_time) as usage_month
from usage_stale as u
left join sessions as s on s.session_id = u.session_id
order by usage_month nulls first;
