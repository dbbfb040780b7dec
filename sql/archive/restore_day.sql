-- Put back the rows of a day's existing archive file that the database no longer holds, so that the day is
-- written again as one whole file (an earlier run stopped between writing it and pruning, or polls of the
-- day were loaded after it was archived). A row the database holds, by (poll_id, seq), wins. Runs inside
-- the day's transaction, which prunes them again. Parameters: file (the existing Parquet file).
insert into raw_responses (
    poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
    http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
)
with archived as (
    select
        poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
        http_status, elapsed_ms, ratelimit, server_date, outcome, body, error
    from read_parquet(getvariable('file'))
),

final as (
    select a.*
    from archived as a
    anti join raw_responses as r on r.poll_id = a.poll_id and r.seq = a.seq
)

select * from final;
