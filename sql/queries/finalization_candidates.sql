-- One row per session that must be read by id until final: stopped but not yet stable, or gone from its
-- livestream's active session without a stop being seen. Oldest first. Sessions not seen for a day are
-- no longer read every poll (a deleted session would otherwise be read forever); unfinished_sessions
-- still lists them. No parameters.
select u.app_id, u.livestream_id, u.session_id
from unfinished_sessions as u
where u.last_seen_at > now() - interval 1 day
order by u.last_seen_at, u.session_id;
