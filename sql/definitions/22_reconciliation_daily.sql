-- One row per app per day: Cloudflare's daywise totals beside the warehouse's, the difference, the tolerance
-- and a verdict.
-- Assumed attribution (the API does not document it): a session counts on the UTC day it started
-- (or was invoked, if it never started), with its latest figures (final once `all_final`).
--
-- The tolerance. Cloudflare's totals are integers (schema and examples), the sessions' figures fractional
-- (viewer_seconds 116.11599994199997), so the two sides differ by how Cloudflare made its sums whole, which
-- no source states. For n sessions with exact sum S, the plausible ways each stay within a bound of S:
-- floor of S: S - T in [0, 1); round of S: [-0.5, 0.5]; ceiling of S: (-1, 0]; the sum of each figure
-- floored, rounded or ceiled: [0, n), [-n/2, n/2], (-n, 0]. Any of them, or one per-session rounding
-- followed by one of the sum (each figure made whole, or kept to a fraction, then the sum made whole), stays
-- strictly within n + 1 seconds of S. So a day agrees when Cloudflare's count is the warehouse's and both
-- differences are within tolerance_seconds = n + 1 (n the larger of the two counts): the + 1 is the sum's
-- own rounding, which also covers the double sums' last-digit error. A larger difference is no rounding.
--
-- The verdict is only given once both sides are final: Cloudflare's totals read after the day was over (on
-- our clock) and after the day's last session was final, and every session of the day final. Before that it
-- is 'not final' (verdict_reason says which); a later reconcile read, which reads the recent days again,
-- decides it. A day Cloudflare's answers have no item for is 'not final' too: the row cannot tell a read
-- that skipped the day (Cloudflare has no session on it) from a day not yet read.
create or replace view reconciliation_daily as
with warehouse as (
    select
        app_id,
        cast(coalesce(started_time, invoked_time, created_at) as date) as day,
        count(*) as sessions,
        sum(coalesce(ingest_seconds, 0)) as ingest_seconds,
        sum(coalesce(viewer_seconds, 0)) as viewer_seconds,
        bool_and(is_final) as all_final,
        max(finalized_at) as last_finalized_at
    from sessions
    group by all
),

compared as (
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
        c.fetched_at as cloudflare_fetched_at,
        reconciliation_tolerance(w.sessions, c.count) as tolerance_seconds,
        timezone('UTC', cast(coalesce(c.date, w.day) + 1 as timestamp)) as day_end,
        w.last_finalized_at
    from analytics_daily as c
    full outer join warehouse as w on w.app_id = c.app_id and w.day = c.date
),

judged as (
    select
        *,
        case
            when cloudflare_fetched_at is null then 'Cloudflare''s totals for the day were not read'
            when cloudflare_fetched_at < day_end then 'Cloudflare''s totals were read before the day was over'
            when warehouse_sessions is not null and not all_final then 'a session of the day is not final'
            when last_finalized_at > cloudflare_fetched_at
                then 'Cloudflare''s totals were read before the day''s last session was final'
        end as not_final_reason,
        reconciliation_difference(
            warehouse_sessions,
            cloudflare_sessions,
            ingest_difference_seconds,
            viewer_difference_seconds,
            tolerance_seconds
        ) as difference_reason
    from compared
),

final as (
    select
        app_id,
        day,
        cloudflare_sessions,
        warehouse_sessions,
        cloudflare_ingest_seconds,
        warehouse_ingest_seconds,
        ingest_difference_seconds,
        ingest_difference_percent,
        cloudflare_viewer_seconds,
        warehouse_viewer_seconds,
        viewer_difference_seconds,
        viewer_difference_percent,
        all_final,
        cloudflare_fetched_at,
        tolerance_seconds,
        case
            when not_final_reason is not null then 'not final'
            when difference_reason is not null then 'differs'
            else 'agrees'
        end as verdict,
        coalesce(not_final_reason, difference_reason) as verdict_reason
    from judged
)

select * from final;

comment on view reconciliation_daily is
    'One row per app per UTC day: Cloudflare''s daywise totals (analytics_daily) beside the warehouse''s, '
    'warehouse minus Cloudflare in seconds and percent (null percent: Cloudflare says 0), the tolerance that '
    'Cloudflare''s integer totals allow, and the verdict: agrees, differs, or not final (while a side may '
    'still change). A session counts on the UTC day it started (or was invoked, if it never started), with '
    'its latest figures.';
comment on column reconciliation_daily.app_id is 'The app.';
comment on column reconciliation_daily.day is
    'The UTC day: a day of Cloudflare''s daywise totals, or a day the warehouse''s sessions started on (or '
    'were invoked on, if they never started).';
comment on column reconciliation_daily.cloudflare_sessions is
    'Sessions that day by Cloudflare''s count; null when Cloudflare''s totals have no row for the day.';
comment on column reconciliation_daily.warehouse_sessions is
    'The warehouse''s sessions that started (or were invoked) that day; null when it has none.';
comment on column reconciliation_daily.cloudflare_ingest_seconds is
    'Ingest seconds that day by Cloudflare (an integer, as it sends them); null when its totals have no row '
    'for the day.';
comment on column reconciliation_daily.warehouse_ingest_seconds is
    'Ingest seconds of the warehouse''s sessions of that day, each session''s latest figure whole (a null '
    'figure counts 0); null when it has no session that day.';
comment on column reconciliation_daily.ingest_difference_seconds is
    'Warehouse minus Cloudflare, in ingest seconds (a side without a figure counts 0).';
comment on column reconciliation_daily.ingest_difference_percent is
    'That difference in percent of Cloudflare''s figure; null when Cloudflare says 0 or has no row.';
comment on column reconciliation_daily.cloudflare_viewer_seconds is
    'Viewer seconds that day by Cloudflare (an integer, as it sends them); null when its totals have no row '
    'for the day.';
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
    'When Cloudflare''s totals for the day were read, on our clock (UTC); null when they never were.';
comment on column reconciliation_daily.tolerance_seconds is
    'How far each difference may go, in seconds, and still agree: the day''s sessions (the larger count of '
    'the two sides) + 1. Integer totals of fractional figures, made whole per session and once more as a '
    'sum by floor, round or ceiling, stay strictly within it (the rule is above the view in '
    'sql/definitions/22_reconciliation_daily.sql).';
comment on column reconciliation_daily.verdict is
    'agrees (the counts are equal and both differences within tolerance_seconds), differs (they are not), '
    'or not final (Cloudflare''s totals not read, or read before the day was over or before its last '
    'session was final, or a session of the day not final yet): only a final day is judged.';
comment on column reconciliation_daily.verdict_reason is
    'Why the verdict is not agrees: what is not final yet, or what differs; null when it agrees.';
