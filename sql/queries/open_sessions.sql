-- One row per livestream with a session we last saw running (no stopped_time): read its active
-- session again even if the list no longer says LIVE, so its stop is observed. No parameters.
select distinct app_id, livestream_id
from sessions
where stopped_time is null
  and last_seen_at > now() - interval 1 day  -- older ones are left to finalization
order by app_id, livestream_id;
