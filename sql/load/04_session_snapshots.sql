-- One row per session per poll: the poll's latest observation of each session, latest on the API's clock
-- (observed_at; within one second, the later received). Reads: staged_sessions.
insert into session_snapshots (
    poll_id, fetched_at, observed_at, session_id, livestream_id, app_id, endpoint, status, started_time,
    stopped_time, ingest_seconds, viewer_seconds
)
with latest as (
    select *
    from staged_sessions
    qualify row_number() over (
        partition by poll_id, session_id order by observed_at desc, fetched_at desc, seq desc
    ) = 1
),

final as (
    select
        poll_id, fetched_at, observed_at, session_id, livestream_id, app_id, endpoint, status, started_time,
        stopped_time, ingest_seconds, viewer_seconds
    from latest
)

select * from final;
