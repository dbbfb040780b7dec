-- One row per session with what simulator/verify.py's compare checks against the simulator's ground truth
-- (the demo and the tests use it; the product never does, so it lives with the simulator, outside the
-- wheel). No parameters.
select
    session_id, livestream_id, app_id, created_at, invoked_time, started_time, stopped_time, ingest_seconds,
    viewer_seconds, is_final
from sessions
order by session_id;
