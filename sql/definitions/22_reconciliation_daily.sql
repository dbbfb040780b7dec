-- One row per app per day: Cloudflare's daywise totals beside the warehouse's, and the difference.
-- Assumed attribution (the API does not document it): a session counts on the UTC day it started
-- (or was invoked, if it never started), with its latest figures (final once `all_final`).
create or replace view reconciliation_daily as
with warehouse as (
    select
        app_id,
        cast(coalesce(started_time, invoked_time, created_at) as date) as day,
        count(*) as sessions,
        sum(coalesce(ingest_seconds, 0)) as ingest_seconds,
        sum(coalesce(viewer_seconds, 0)) as viewer_seconds,
        bool_and(is_final) as all_final
    from sessions
    group by all
),

final as (
    select
        coalesce(c.app_id, w.app_id) as app_id,
        coalesce(c.date, w.day) as day,
        c.count as cloudflare_sessions,
        w.sessions as warehouse_sessions,
        c.total_ingest_seconds as cloudflare_ingest_seconds,
        w.ingest_seconds as warehouse_ingest_seconds,
        coalesce(w.ingest_seconds, 0) - coalesce(c.total_ingest_seconds, 0) as ingest_difference_seconds,
        100 * (coalesce(w.ingest_seconds, 0) - coalesce(c.total_ingest_seconds, 0))
            / nullif(c.total_ingest_seconds, 0) as ingest_difference_percent,
        c.total_viewer_seconds as cloudflare_viewer_seconds,
        w.viewer_seconds as warehouse_viewer_seconds,
        coalesce(w.viewer_seconds, 0) - coalesce(c.total_viewer_seconds, 0) as viewer_difference_seconds,
        100 * (coalesce(w.viewer_seconds, 0) - coalesce(c.total_viewer_seconds, 0))
            / nullif(c.total_viewer_seconds, 0) as viewer_difference_percent,
        coalesce(w.all_final, false) as all_final,
        c.fetched_at as cloudflare_fetched_at
    from analytics_daily as c
    full outer join warehouse as w on w.app_id = c.app_id and w.day = c.date
)

select * from final;

comment on view reconciliation_daily is
    'One row per app per UTC day: Cloudflare''s daywise totals (analytics_daily) beside the warehouse''s, '
    'warehouse minus Cloudflare in seconds and percent (null percent: Cloudflare says 0), and all_final '
    '(false while a session of the day may still grow). A session counts on the UTC day it started (or was '
    'invoked, if it never started), with its latest figures.';
