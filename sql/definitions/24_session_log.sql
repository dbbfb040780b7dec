-- One row per session: who, when, how long, the figures, and whether they are final. The interface for
-- ad-hoc questions about sessions (no need to read raw_responses or session_snapshots).
create or replace view session_log as
select
    s.app_id,
    a.name as app_name,
    s.livestream_id,
    l.name as livestream_name,
    l.meeting_id,
    s.session_id,
    s.status,
    s.invoked_time,
    s.started_time,
    s.stopped_time,
    epoch(s.stopped_time - s.started_time) as duration_seconds,  -- null until the session has stopped
    s.ingest_seconds,
    s.viewer_seconds,
    s.is_final,
    s.finalized_at,
    s.err_message,
    s.err_message is not null or s.status = 'ERRORED' as errored,
    -- The span the session occupied: from its start (or invocation) to its stop (or last sighting).
    coalesce(s.started_time, s.invoked_time, s.created_at, s.first_seen_at) as began_at,
    coalesce(s.stopped_time, s.last_observed_at, s.last_seen_at) as ended_at,
    s.first_seen_at,
    s.last_seen_at
from sessions as s
left join livestreams as l on l.livestream_id = s.livestream_id
left join apps as a on a.app_id = s.app_id;

comment on view session_log is
    'One row per session: app and livestream names, meeting, start, stop, duration_seconds (null until '
    'stopped), its latest figures, is_final, errored, and the span it occupied [began_at, ended_at] '
    '(start or '
    'invocation to stop or last observation). The interface for ad-hoc questions about sessions.';
