-- One row per known livestream: what the planner needs to order its reads. Parameters: active_hours.
with recent as (
    select livestream_id, max(last_seen_at) as last_session_seen_at
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
        or coalesce(l.status in ('LIVE', 'INVOKED'), false) as recently_active
from livestreams as l
left join recent as r on r.livestream_id = l.livestream_id
order by l.livestream_id;
