-- Mark every session this batch observed: its usage curve may have changed. Reads: staged_sessions.
insert into usage_stale (session_id)
select distinct session_id
from staged_sessions
on conflict do nothing;
