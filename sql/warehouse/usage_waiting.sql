-- Set the stale sessions aside, so that their usage is computed a month of starts at a time
-- (warehouse/usage_month.sql): one statement over a whole long history would hold every snapshot in its
-- windows at once. No parameters.
create or replace temp table usage_waiting as
select u.session_id, date_trunc('month', s.started_time) as usage_month
from usage_stale as u
left join sessions as s on s.session_id = u.session_id;

delete from usage_stale;
