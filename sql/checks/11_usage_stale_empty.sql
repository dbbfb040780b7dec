-- usage_stale is empty between loads.
--
-- A reloaded poll (load/01_clear_poll.sql) or a migration marks sessions in usage_stale; the load or the
-- migration computes their usage again and empties it, in the same transaction. A committed row there is a
-- session whose usage was marked out of date and never computed (a load or rebuild stopped half way outside
-- a transaction), so session_usage may be wrong for it; the next poll would recompute it, but until then
-- every report reading its hours is stale.
-- One row per session left in usage_stale.
select session_id
from usage_stale
order by session_id;
