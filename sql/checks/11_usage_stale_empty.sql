-- usage_stale is empty between loads.
--
-- A load marks the sessions it observed in usage_stale, computes their usage again and empties it, all in
-- its one transaction. A committed row there is a session whose usage was marked out of date and never
-- computed (a load or rebuild stopped half way outside a transaction), so session_usage may be wrong for
-- it; the next poll would recompute it, but until then every report reading its hours is stale.
-- One row per session left in usage_stale.
select session_id
from usage_stale
order by session_id;
