-- One row per livestream with a session last seen running (no stopped_time, not final): its latest such
-- session. Its livestream is read again even if the list no longer says LIVE, so that the stop is seen.
-- No parameters.
select app_id, livestream_id, session_id
from sessions
where stopped_time is null
  and not is_final
  and last_seen_at > now() - interval 1 day  -- older ones are left to the finalization reads
qualify row_number() over (partition by livestream_id order by last_seen_at desc, session_id) = 1
order by app_id, livestream_id;
