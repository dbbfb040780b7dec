-- Daily usage per app and livestream: sessions, viewer hours and ingest hours on each local day.
-- Grain: one row per local day (in tz) per livestream with usage that day.
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: day [local date in tz], app_id [id], livestream [text], livestream_id [id], sessions [count],
-- Columns: viewer_hours [hours], ingest_hours [hours]
-- Units: hours of usage that happened on that day (sessions crossing midnight are split). Days are bucketed by the UTC hour they start in, converted to tz.
with usage as (
    select
        timezone(report_tz(), hour)::date as day,
        app_id,
        livestream_id,
        session_id,
        viewer_seconds,
        ingest_seconds
    from session_usage_between(report_start(), report_end())
),

final as (
    select
        u.day,
        u.app_id,
        l.name as livestream,
        u.livestream_id,
        count(distinct u.session_id) as sessions,
        round(sum(u.viewer_seconds) / 3600, 3) as viewer_hours,
        round(sum(u.ingest_seconds) / 3600, 3) as ingest_hours
    from usage as u
    left join livestreams as l on l.livestream_id = u.livestream_id
    group by all
)

select * from final
order by day, app_id, livestream, livestream_id;
