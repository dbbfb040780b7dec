-- Upsert one row per app per window from the batch's overall answers; the latest answer wins.
-- Reads: staged_overall.
merge into analytics_overall as t
using (
    select app_id, start_time, end_time, count, total_ingest_seconds, total_viewer_seconds, fetched_at, poll_id
    from staged_overall
    where start_time is not null and end_time is not null
    qualify row_number() over (partition by app_id, start_time, end_time order by fetched_at desc, seq desc) = 1
) as s
on t.app_id = s.app_id and t.start_time = s.start_time and t.end_time = s.end_time
when matched and s.fetched_at >= t.fetched_at then update set
    count = s.count,
    total_ingest_seconds = s.total_ingest_seconds,
    total_viewer_seconds = s.total_viewer_seconds,
    fetched_at = s.fetched_at,
    poll_id = s.poll_id
when not matched then insert (
    app_id, start_time, end_time, count, total_ingest_seconds, total_viewer_seconds, fetched_at, poll_id
)
values (
    s.app_id, s.start_time, s.end_time, s.count, s.total_ingest_seconds, s.total_viewer_seconds, s.fetched_at,
    s.poll_id
);
