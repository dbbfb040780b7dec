-- Remember per livestream when its active session and its session list were last read, for the planner.
-- Reads: staged_responses, staged_livestreams.
update livestreams
set last_active_read_at = greatest(coalesce(livestreams.last_active_read_at, r.read_at), r.read_at)
from (
    select livestream_id, max(fetched_at) as read_at
    from staged_responses
    where endpoint = 'active_session' and outcome in ('data', 'none')
    group by livestream_id
) as r
where livestreams.livestream_id = r.livestream_id;

update livestreams
set
    last_swept_at = s.swept_at,
    swept_updated_at = coalesce(s.updated_at, livestreams.swept_updated_at)
from (
    -- The newest sweep's time, and the last non-null updated_at in (fetched_at, seq) order (as in
    -- load/05_livestreams.sql).
    select
        livestream_id,
        max(fetched_at) as swept_at,
        arg_max(updated_at, epoch_us(fetched_at)::hugeint * 4294967296 + seq) as updated_at
    from staged_livestreams
    where endpoint = 'livestream_sessions'
    group by livestream_id
) as s
where livestreams.livestream_id = s.livestream_id
  and (livestreams.last_swept_at is null or s.swept_at >= livestreams.last_swept_at);
