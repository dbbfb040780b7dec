-- Write the day's raw responses, every column as stored, ordered by poll and receipt, to one zstd Parquet
-- file. Small row groups let a rebuild read a few polls at a time. Reads: archive_day_polls.
-- Parameters: path (a temporary name; the caller fsyncs it and renames it into place).
copy (
    select
        poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
        http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
    from raw_responses
    where poll_id in (select poll_id from archive_day_polls)
    order by poll_id, seq
) to (getvariable('path')) (format parquet, compression zstd, row_group_size 16384);
