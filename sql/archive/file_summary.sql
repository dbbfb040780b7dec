-- One row: what an archive file holds, read back from disk (the same figures as day_summary.sql).
-- Parameters: file.
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
from read_parquet(getvariable('file'));
