-- A session is final exactly when it records when it became final (finalized_at).
--
-- sql/load/10_finalize.sql sets is_final and finalized_at (the time of the confirming read) together, and
-- nothing unsets them. A final session without finalized_at, or a finalized_at on a session that is not
-- final (or whose finality is unknown), means the row was written outside the load; the session log,
-- the export's completeness and the planner (which stops reading final sessions) would disagree about it.
-- One row per session whose is_final and finalized_at disagree.
select session_id, livestream_id, is_final, finalized_at
from sessions
where is_final is distinct from (finalized_at is not null)
order by session_id;
