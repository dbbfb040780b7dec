-- Mark every session this batch observed: its usage curve may have changed. Each keeps which polls of the
-- batch observed it, so that the usage refresh can read these new snapshots alone. Reads: staged_sessions.
insert into usage_stale (session_id, batch_since, batch_polls)
select session_id, min(fetched_at), list(distinct poll_id)
from staged_sessions
group by session_id
on conflict do update set
    batch_since = least(usage_stale.batch_since, excluded.batch_since),
    batch_polls = list_distinct(list_concat(usage_stale.batch_polls, excluded.batch_polls));
