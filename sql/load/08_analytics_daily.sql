-- Upsert one row per app per day from the batch's daywise answers; the latest answer wins.
-- Reads: staged_daywise.
merge into analytics_daily as t
using (
    select app_id, date, count, total_ingest_seconds, total_viewer_seconds, fetched_at, poll_id
    from staged_daywise
    where date is not null
    qualify row_number() over (partition by app_id, date order by fetched_at desc, seq desc) = 1
) as s
on t.app_id = s.app_id and t.date = s.date
when matched and s.fetched_at >= t.fetched_at then update set
    count = s.count,
    total_ingest_seconds = s.total_ingest_seconds,
    total_viewer_seconds = s.total_viewer_seconds,
    fetched_at = s.fetched_at,
    poll_id = s.poll_id
when not matched then insert (app_id, date, count, total_ingest_seconds, total_viewer_seconds, fetched_at, poll_id)
values (s.app_id, s.date, s.count, s.total_ingest_seconds, s.total_viewer_seconds, s.fetched_at, s.poll_id);
