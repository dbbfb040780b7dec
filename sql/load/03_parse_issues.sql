-- One row per value of the poll that could not be typed. Reads: staged_issues.
insert into parse_issues (
    poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, field, raw_value, reason
)
select poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, field, raw_value, reason
from staged_issues;
