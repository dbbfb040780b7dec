-- Compute the usage of the stale sessions again and replace theirs in session_usage; no other session's
-- rows are read or written. Readings are looked for from a day before the earliest start on (the rule
-- clamps earlier ones to the start anyway), so a poll scans only the recent end of session_snapshots.
-- The rows replaced are looked for from the earliest hour session_usage_start holds for the stale sessions,
-- so a poll reads only the recent end of session_usage too. A poll's few stale ids also go into the
-- variable usage_stale_ids (null past 2,048, DuckDB's index_scan_max_count, as in rebuild): a filter on that
-- constant list reads sessions and session_usage_start through their primary-key index, where a join would
-- read every row of tables that grow with the history.
set variable usage_stale_ids = (
    select case when count(*) <= 2048 then coalesce(list(session_id), []) end
    from usage_stale
);

set variable usage_since = coalesce(
    (
        select min(started_time) - interval 1 day
        from sessions
        where session_id in (select session_id from usage_stale)
          and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id))
    ),
    'infinity'::timestamptz
);

-- No stale session has rows before this hour (a session without rows has no session_usage_start row).
set variable usage_replaced_from = coalesce(
    (
        select min(first_hour)
        from session_usage_start
        where session_id in (select session_id from usage_stale)
          and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id))
    ),
    'infinity'::timestamptz
);

delete from session_usage
where hour >= getvariable('usage_replaced_from')
  and session_id in (select session_id from usage_stale)
  and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id));

create or replace temp table usage_computed as
select app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds
from stale_session_usage(getvariable('usage_since'));

insert into session_usage (app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds)
select app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds
from usage_computed
order by hour, session_id;

delete from session_usage_start
where session_id in (select session_id from usage_stale)
  and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id));

insert into session_usage_start (session_id, first_hour)
select session_id, min(hour)
from usage_computed
group by session_id;

drop table usage_computed;

delete from usage_stale;

reset variable usage_stale_ids;
