-- One row per known livestream: what the planner needs to order its reads. Parameters: active_hours.
-- open_since_swept: its newest session still open was already seen when its sessions were last listed, so
-- no session can have come between (one session at a time) and the safety-net sweep is not needed.
-- newest_session_at: when its newest known session started (or was created), on the API's clock: a sweep
-- pages back to it.
with recent as (
    select
        livestream_id,
        max(last_seen_at) as last_session_seen_at,
        max(first_seen_at) filter (where stopped_time is null and not is_final) as open_first_seen_at,
        max(coalesce(started_time, created_at)) as newest_session_at
    from sessions
    group by livestream_id
)

select
    l.livestream_id,
    l.app_id,
    l.last_active_read_at,
    l.last_swept_at,
    l.swept_updated_at,
    coalesce(r.last_session_seen_at > now() - to_hours(getvariable('active_hours')::bigint), false)
        or coalesce(l.status in ('LIVE', 'INVOKED'), false) as recently_active,
    coalesce(r.open_first_seen_at <= l.last_swept_at, false) as open_since_swept,
    r.newest_session_at
from livestreams as l
left join recent as r on r.livestream_id = l.livestream_id
order by l.livestream_id;
