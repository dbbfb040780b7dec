-- Session log: every session in a period with its start, stop, duration, figures, finality and error.
-- Grain: one row per session whose span (start or invocation to stop or last sighting) overlaps the period.
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: app_id [id], livestream_id [id], livestream_name [text], meeting_id [id], session_id [id],
-- Columns: status [text], invoked_time [UTC instant], started_time [UTC instant],
-- Columns: stopped_time [UTC instant], duration_seconds [seconds], ingest_seconds [seconds],
-- Columns: viewer_seconds [seconds], is_final [yes/no], finalized_at [UTC instant], err_message [text]
-- Units: seconds as exact decimals to 1e-9 s; instants in UTC. Figures are each session's latest (final once is_final); usage inside the period only is in session_usage.
select
    app_id,
    livestream_id,
    livestream_name,
    meeting_id,
    session_id,
    status,
    invoked_time,
    started_time,
    stopped_time,
    round(duration_seconds, 9)::decimal(24, 9) as duration_seconds,
    round(ingest_seconds, 9)::decimal(24, 9) as ingest_seconds,
    round(viewer_seconds, 9)::decimal(24, 9) as viewer_seconds,
    is_final,
    finalized_at,
    err_message
from session_log
where began_at < report_end() and ended_at >= report_start()
order by began_at, session_id;
