-- One row per session that must be read by id until final: stopped but not yet stable, or gone from its
-- livestream's active session without a stop being seen. Oldest first. No parameters.
select u.app_id, u.livestream_id, u.session_id
from unfinished_sessions as u
order by u.last_seen_at, u.session_id;
