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
comment on column reconciliation_daily.app_id is 'The app.';
comment on column reconciliation_daily.day is
    'The UTC day: a day of Cloudflare''s daywise totals, or a day the warehouse''s sessions started on (or '
    'were invoked on, if they never started).';
comment on column reconciliation_daily.cloudflare_sessions is
    'Sessions that day by Cloudflare''s count; null when Cloudflare''s totals have no row for the day.';
comment on column reconciliation_daily.warehouse_sessions is
    'The warehouse''s sessions that started (or were invoked) that day; null when it has none.';
comment on column reconciliation_daily.cloudflare_ingest_seconds is
    'Ingest seconds that day by Cloudflare; null when its totals have no row for the day.';
comment on column reconciliation_daily.warehouse_ingest_seconds is
    'Ingest seconds of the warehouse''s sessions of that day, each session''s latest figure whole (a null '
    'figure counts 0); null when it has no session that day.';
comment on column reconciliation_daily.ingest_difference_seconds is
    'Warehouse minus Cloudflare, in ingest seconds (a side without a figure counts 0).';
comment on column reconciliation_daily.ingest_difference_percent is
    'That difference in percent of Cloudflare''s figure; null when Cloudflare says 0 or has no row.';
comment on column reconciliation_daily.cloudflare_viewer_seconds is
    'Viewer seconds that day by Cloudflare; null when its totals have no row for the day.';
comment on column reconciliation_daily.warehouse_viewer_seconds is
    'Viewer seconds of the warehouse''s sessions of that day, each session''s latest figure whole (a null '
    'figure counts 0); null when it has no session that day.';
comment on column reconciliation_daily.viewer_difference_seconds is
    'Warehouse minus Cloudflare, in viewer seconds (a side without a figure counts 0).';
comment on column reconciliation_daily.viewer_difference_percent is
    'That difference in percent of Cloudflare''s figure; null when Cloudflare says 0 or has no row.';
comment on column reconciliation_daily.all_final is
    'True when every warehouse session of the day is final, so its figures will not change; false while one '
    'may still grow, and when the warehouse has no session that day.';
comment on column reconciliation_daily.cloudflare_fetched_at is
    'When Cloudflare''s totals for the day were read; null when they never were.';
