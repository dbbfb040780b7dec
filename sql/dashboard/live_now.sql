-- Live now: the sessions that were running at the last poll that read anything (not stopped, not final, and
-- seen by that poll), with their figures so far. No parameters: it does not depend on the period.
-- Units: seconds as last read (they still grow); instants in UTC. last_poll_at is that poll's start.
with last_poll as (
    select max(started_at) as last_poll_at
    from poll_runs
    where kind = 'snapshot' and outcome <> 'failed'
),

final as (
    select
        l.app_id,
        l.app_name,
        l.livestream_id,
        l.livestream_name,
        l.session_id,
        l.status,
        l.started_time,
        round(l.viewer_seconds, 3)::decimal(20, 3) as viewer_seconds,
        round(l.ingest_seconds, 3)::decimal(20, 3) as ingest_seconds,
        l.last_seen_at,
        p.last_poll_at
    from session_log as l
    cross join last_poll as p
    where l.stopped_time is null
      and not l.is_final
      and l.last_seen_at >= p.last_poll_at
      and l.session_id not in (select session_id from unfinished_sessions)
)

select * from final
order by app_id, livestream_name nulls last, livestream_id, session_id;
