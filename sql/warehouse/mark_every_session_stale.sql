-- Mark every session for its usage to be computed again (after rows were written outside a poll's load),
-- as the sessions of a batch are marked (load/11_usage_stale.sql); load/12_session_usage.sql then computes
-- them. No parameters.
create or replace temp table usage_marks as
select session_id, 'full' as path, null::timestamptz as batch_since, null::varchar[] as batch_polls
from sessions;
