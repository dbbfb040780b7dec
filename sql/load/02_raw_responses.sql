-- One row per HTTP response of the poll, as landed. Reads: staged_responses.
insert into raw_responses (
    poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
    http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
)
select
    poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
    http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
from staged_responses;
