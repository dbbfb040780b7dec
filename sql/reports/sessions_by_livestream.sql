-- One row per livestream: how many sessions we hold, how many are running, and their figures so far.
-- Figures are each session's latest observed values (final once the session is finalized). No parameters.
with per_session as (
    select
        livestream_id,
        session_id,
        stopped_time is null as running,
        coalesce(ingest_seconds, 0) as ingest_seconds,
        coalesce(viewer_seconds, 0) as viewer_seconds,
        started_time
    from sessions
),

final as (
    select
        coalesce(l.name, '(unnamed)') as livestream,
        l.livestream_id,
        l.status,
        count(s.session_id) as sessions,
        count(s.session_id) filter (where s.running) as running,
        round(sum(s.ingest_seconds), 3) as ingest_seconds,
        round(sum(s.viewer_seconds), 3) as viewer_seconds,
        min(s.started_time) as first_started_at
    from livestreams as l
    inner join per_session as s on s.livestream_id = l.livestream_id
    group by all
)

select * from final
order by livestream, livestream_id;
