-- Mark every session for its usage to be computed again (after rows were written outside a poll's load);
-- load/12_session_usage.sql then computes them. No parameters.
insert into usage_stale (session_id, path)
select session_id, 'full'
from sessions
on conflict do update set path = 'full';
