-- Compute the usage of the stale sessions again and replace theirs in session_usage; no other session's
-- rows are read or written. Readings are looked for from a day before the earliest start on (the rule
-- clamps earlier ones to the start anyway), so a poll scans only the recent end of session_snapshots.
set variable usage_since = coalesce(
    (
        select min(started_time) - interval 1 day
        from sessions
        where session_id in (select session_id from usage_stale)
    ),
    'infinity'::timestamptz
);

delete from session_usage
where session_id in (select session_id from usage_stale);

insert into session_usage (app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds)
select app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds
from stale_session_usage(getvariable('usage_since'));

delete from usage_stale;
