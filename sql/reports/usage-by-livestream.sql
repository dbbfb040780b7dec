-- Usage by livestream in a period: sessions, viewer and ingest hours, average and longest session, errors.
-- Grain: one row per livestream with a session whose span overlaps the period.
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: app_id [id], livestream [text], livestream_id [id], meeting_id [id], sessions [count],
-- Columns: sessions_not_final [count], errored_sessions [count], viewer_hours [hours],
-- Columns: ingest_hours [hours], avg_session_minutes [minutes], longest_session_minutes [minutes]
-- Units: hours and minutes as the column names say. Hours are the usage that happened inside the period (a session crossing its edge is split, see session_usage); minutes are whole-session durations.
with in_period as (
    select *
    from session_log
    where began_at < report_end() and ended_at >= report_start()
),

per_livestream as (
    select
        app_id,
        livestream_id,
        livestream_name,
        meeting_id,
        count(*) as sessions,
        count(*) filter (where not is_final) as sessions_not_final,
        count(*) filter (where errored) as errored_sessions,
        avg(duration_seconds) / 60 as avg_session_minutes,
        max(duration_seconds) / 60 as longest_session_minutes
    from in_period
    group by all
),

final as (
    select
        p.app_id,
        p.livestream_name as livestream,
        p.livestream_id,
        p.meeting_id,
        p.sessions,
        p.sessions_not_final,
        p.errored_sessions,
        round(coalesce(u.viewer_seconds, 0) / 3600, 3) as viewer_hours,
        round(coalesce(u.ingest_seconds, 0) / 3600, 3) as ingest_hours,
        round(p.avg_session_minutes, 2) as avg_session_minutes,
        round(p.longest_session_minutes, 2) as longest_session_minutes
    from per_livestream as p
    left join livestream_usage_between(report_start(), report_end()) as u
        on u.livestream_id = p.livestream_id
)

select * from final
order by app_id, livestream, livestream_id;
