-- Monthly finance statement: viewer and ingest minutes and the estimated cost per app, livestream and meeting.
-- Grain: one row per livestream (with its app and meeting) with a session whose span overlaps the period.
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Parameter price_per_ingest_minute [USD per ingest minute] = 0.010 (the published export price)
-- Columns: period_from [local date in tz], period_to [local date in tz], app_id [id], app_name [text],
-- Columns: livestream_id [id], livestream_name [text], meeting_id [id], sessions [count],
-- Columns: sessions_not_final [count], viewer_seconds [seconds], ingest_seconds [seconds],
-- Columns: viewer_minutes [minutes], ingest_minutes [minutes], price_per_ingest_minute_usd [USD per minute],
-- Columns: estimated_cost_usd [USD]
-- Units: seconds and minutes of usage that happened inside the period (a session crossing its edge is split, see session_usage), exact decimals; estimated_cost_usd = ingest_minutes x price, rounded half up (half away from zero) to the cent, decimal(18, 2) USD. Rows with sessions_not_final > 0 may still grow; whether the month is final is the export's month_state.
with sessions_in_period as (
    select
        app_id,
        any_value(app_name) as app_name,
        livestream_id,
        any_value(livestream_name) as livestream_name,
        any_value(meeting_id) as meeting_id,
        count(*) as sessions,
        count(*) filter (where not is_final) as sessions_not_final
    from session_log
    where began_at < report_end() and ended_at >= report_start()
    group by app_id, livestream_id
),

figures as (
    select
        s.*,
        round(coalesce(u.viewer_seconds, 0), 3)::decimal(20, 3) as viewer_seconds,
        round(coalesce(u.ingest_seconds, 0), 3)::decimal(20, 3) as ingest_seconds,
        round(coalesce(u.viewer_seconds, 0) / 60, 6)::decimal(20, 6) as viewer_minutes,
        round(coalesce(u.ingest_seconds, 0) / 60, 6)::decimal(20, 6) as ingest_minutes,
        coalesce(getvariable('price_per_ingest_minute')::decimal(18, 6), 0.010::decimal(18, 6))
            as price_per_ingest_minute_usd
    from sessions_in_period as s
    left join livestream_usage_between(report_start(), report_end()) as u
        on u.livestream_id = s.livestream_id
),

final as (
    select
        report_from_date() as period_from,
        report_to_date() as period_to,
        app_id,
        app_name,
        livestream_id,
        livestream_name,
        meeting_id,
        sessions,
        sessions_not_final,
        viewer_seconds,
        ingest_seconds,
        viewer_minutes,
        ingest_minutes,
        price_per_ingest_minute_usd,
        -- Cents, rounded half up (DuckDB rounds a decimal half away from zero; costs are never negative),
        -- so that a totals row of the rounded rows adds up exactly.
        round(ingest_minutes * price_per_ingest_minute_usd, 2)::decimal(18, 2) as estimated_cost_usd
    from figures
)

select * from final
order by app_id, livestream_id;
