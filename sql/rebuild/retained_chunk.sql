-- Rebuild only: the raw responses of the polls `first` to `last` that raw_responses holds, in order.
-- Parameters: first, last (poll ids).
select
    poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
    http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
from raw_responses
where poll_id between getvariable('first') and getvariable('last')
order by poll_id, seq;
