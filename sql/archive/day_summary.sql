-- One row: what the day's raw responses in the database are (polls, rows, first and last poll, and a
-- checksum of every column of every row), to compare with the file written from them. Reads:
-- archive_day_polls.
select
    count(distinct poll_id) as polls,
    count(*) as responses,
    count(distinct (poll_id, seq)) as keys,
    min(poll_id) as first_poll_id,
    max(poll_id) as last_poll_id,
    coalesce(sum(hash(
        poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
        http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
    )::hugeint), 0) as checksum
from raw_responses
where poll_id in (select poll_id from archive_day_polls);
