-- The sessions this batch observed: their usage curves may have changed. Each keeps which polls of the
-- batch observed it, so that the usage refresh (load/12_session_usage.sql) can read these new snapshots
-- alone. A temporary table of this transaction: the refresh adds the sessions usage_stale holds (marked by a
-- reloaded poll or a migration) and empties both. Reads: staged_sessions.
create or replace temp table usage_marks as
select session_id, null::varchar as path, min(fetched_at) as batch_since, list(distinct poll_id) as batch_polls
from staged_sessions
group by session_id;
