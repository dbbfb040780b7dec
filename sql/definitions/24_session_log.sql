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
    -- Where the API gave no status, the session's own end says what it is (lower case: ours, not the API's).
    coalesce(
        s.status,
        case
            when s.err_message is not null then 'errored'
            when s.stopped_time is not null or l.last_active_read_at > s.last_seen_at then 'ended'
        end
    ) as status,
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
comment on column session_log.app_id is 'The app.';
comment on column session_log.app_name is
    'The app''s name; null when the app was never seen in the apps list (REALTIMEKIT_APP_ID names the apps '
    'polled, and then the list is not read).';
comment on column session_log.livestream_id is 'The livestream.';
comment on column session_log.livestream_name is
    'The livestream''s name as last observed; null when it has none.';
comment on column session_log.meeting_id is
    'The RealtimeKit meeting the livestream streams, as last observed; null when it has none.';
comment on column session_log.session_id is 'The session.';
comment on column session_log.status is
    'The livestream''s status when the session was last seen with it, as the API gave it (LIVE, IDLE, '
    'ERRORED, ...). Where the API gave none (a session read by id, without its livestream), derived here in '
    'lower case: errored when it has an error message (err_message), ended when it has stopped '
    '(stopped_time) or has left its livestream''s active session (see unfinished_sessions); null when '
    'neither is known.';
comment on column session_log.invoked_time is
    'When it was invoked, on the API''s clock; null until observed.';
comment on column session_log.started_time is
    'When it started streaming, on the API''s clock; null until observed (or if it never started).';
comment on column session_log.stopped_time is 'When it stopped, on the API''s clock; null while running.';
comment on column session_log.duration_seconds is
    'Seconds from started_time to stopped_time; null until it has stopped (or if it never started).';
comment on column session_log.ingest_seconds is
    'Ingest seconds, cumulative, as last read (exactly final once is_final); null until read.';
comment on column session_log.viewer_seconds is
    'Viewer seconds, cumulative, as last read (exactly final once is_final); null until read.';
comment on column session_log.is_final is 'True once its figures are confirmed and will not change.';
comment on column session_log.finalized_at is 'When the confirming read was fetched; null until final.';
comment on column session_log.err_message is 'The API''s error message for the session; null when none.';
comment on column session_log.errored is
    'True when the API gave an error message for the session or its status is ERRORED.';
comment on column session_log.began_at is
    'Start of the span the session occupied: started_time, else invoked_time, created_at or first_seen_at.';
comment on column session_log.ended_at is
    'End of that span: stopped_time, else its last observation on the API''s clock, else last_seen_at.';
comment on column session_log.first_seen_at is 'When a poll first observed it (fetched_at).';
comment on column session_log.last_seen_at is 'When a poll last observed it (fetched_at).';
