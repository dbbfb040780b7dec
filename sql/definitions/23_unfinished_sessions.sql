-- One row per session that has stopped (or vanished from its livestream) but is not final yet.
create or replace view unfinished_sessions as
select
    s.session_id,
    s.livestream_id,
    s.app_id,
    s.stopped_time,
    s.last_seen_at,
    case when s.stopped_time is not null then 'stopped, figures not yet stable' else 'no longer active' end
        as reason
from sessions as s
left join livestreams as l on l.livestream_id = s.livestream_id
where not s.is_final
  and (s.stopped_time is not null or l.last_active_read_at > s.last_seen_at);

comment on view unfinished_sessions is
    'One row per session that has stopped (or vanished from its livestream''s active session) but whose '
    'figures are not final yet, with the reason. Such a session is read by id every poll for a day after it '
    'was last seen.';
comment on column unfinished_sessions.session_id is 'The session.';
comment on column unfinished_sessions.livestream_id is 'Its livestream.';
comment on column unfinished_sessions.app_id is 'Its app.';
comment on column unfinished_sessions.stopped_time is
    'When it stopped, on the API''s clock; null when it left its livestream''s active session without a stop '
    'being seen.';
comment on column unfinished_sessions.last_seen_at is
    'When a poll last observed it (fetched_at); a day later it is no longer read by id every poll.';
comment on column unfinished_sessions.reason is
    '''stopped, figures not yet stable'' (no two reads after the stop have agreed with the later one at '
    'least STREAMLEDGER_SETTLE_SECONDS after it) or ''no longer '
    'active'' (its livestream''s active session was read since it was last seen, and no stop was seen).';
