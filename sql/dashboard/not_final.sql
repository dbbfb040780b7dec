-- Sessions not yet final in the dashboard's period: every session whose span overlaps the period and whose
-- figures may still change, the same sessions the finance statement counts in sessions_not_final.
-- Parameters: from_date, to_date, tz (the report period, see sql/definitions/01_report_tz.sql).
-- Units: seconds as last read; instants in UTC. reason: running, or why a stopped session is not final.
select
    l.app_id,
    l.livestream_id,
    l.livestream_name,
    l.session_id,
    l.started_time,
    l.stopped_time,
    round(l.viewer_seconds, 3)::decimal(20, 3) as viewer_seconds,
    round(l.ingest_seconds, 3)::decimal(20, 3) as ingest_seconds,
    l.last_seen_at,
    coalesce(u.reason, 'running') as reason
from session_log as l
left join unfinished_sessions as u on u.session_id = l.session_id
where not l.is_final
  and l.began_at < report_end()
  and l.ended_at >= report_start()
order by l.last_seen_at desc, l.session_id;
