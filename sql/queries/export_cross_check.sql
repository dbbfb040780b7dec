-- Cross-check of an export's month: Cloudflare's overall totals of its window beside the warehouse's, per app.
-- Grain: one row per app with a read of the period's window (analytics_overall) or a session in the period.
-- Parameters (session variables, as the reports take them): from_date, to_date (dates, inclusive), tz (default UTC; the export binds UTC)
-- Units: seconds (warehouse minus Cloudflare); tolerance_seconds and verdict follow the rule of reconciliation_daily, over the period: a session counts when it started (or was invoked, if it never started) inside [start, end), with its latest figures; tolerance_seconds = its sessions (the larger count of the two sides) + 1.
with params as (
    select report_start() as period_start, report_end() as period_end
),

reads as (
    select o.*
    from analytics_overall as o, params as p
    where o.start_time = p.period_start and o.end_time = p.period_end
),

warehouse as (
    select
        s.app_id,
        count(*) as sessions,
        sum(coalesce(s.ingest_seconds, 0)) as ingest_seconds,
        sum(coalesce(s.viewer_seconds, 0)) as viewer_seconds,
        count(*) filter (where not s.is_final) as sessions_not_final,
        max(s.finalized_at) as last_finalized_at
    from sessions as s, params as p
    where coalesce(s.started_time, s.invoked_time, s.created_at) >= p.period_start
      and coalesce(s.started_time, s.invoked_time, s.created_at) < p.period_end
    group by s.app_id
),

compared as (
    select
        coalesce(c.app_id, w.app_id) as app_id,
        p.period_start,
        p.period_end,
        c.fetched_at as cloudflare_fetched_at,
        c.count as cloudflare_sessions,
        c.total_ingest_seconds as cloudflare_ingest_seconds,
        c.total_viewer_seconds as cloudflare_viewer_seconds,
        w.sessions as warehouse_sessions,
        w.ingest_seconds as warehouse_ingest_seconds,
        w.viewer_seconds as warehouse_viewer_seconds,
        coalesce(w.sessions_not_final, 0) as warehouse_sessions_not_final,
        coalesce(w.ingest_seconds, 0) - coalesce(c.total_ingest_seconds, 0) as ingest_difference_seconds,
        coalesce(w.viewer_seconds, 0) - coalesce(c.total_viewer_seconds, 0) as viewer_difference_seconds,
        reconciliation_tolerance(w.sessions, c.count) as tolerance_seconds,
        w.last_finalized_at
    from reads as c
    full outer join warehouse as w on w.app_id = c.app_id
    cross join params as p
),

judged as (
    select
        *,
        case
            when cloudflare_fetched_at is null then 'Cloudflare''s overall totals of the month were not read'
            when cloudflare_fetched_at < period_end then 'Cloudflare''s totals were read before the month was over'
            when warehouse_sessions_not_final > 0 then 'a session of the month is not final'
            when last_finalized_at > cloudflare_fetched_at
                then 'Cloudflare''s totals were read before the month''s last session was final'
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
        period_start,
        period_end,
        cloudflare_fetched_at,
        cloudflare_sessions,
        cloudflare_ingest_seconds,
        cloudflare_viewer_seconds,
        warehouse_sessions,
        warehouse_sessions_not_final,
        round(warehouse_ingest_seconds, 3) as warehouse_ingest_seconds,
        round(warehouse_viewer_seconds, 3) as warehouse_viewer_seconds,
        round(ingest_difference_seconds, 3) as ingest_difference_seconds,
        round(viewer_difference_seconds, 3) as viewer_difference_seconds,
        tolerance_seconds,
        case
            when not_final_reason is not null then 'not final'
            when difference_reason is not null then 'differs'
            else 'agrees'
        end as verdict,
        coalesce(not_final_reason, difference_reason) as verdict_reason
    from judged
)

select * from final
order by app_id;
