-- Rebuild only: the raw responses of the polls `first` to `last` that are replayed from archive files, in
-- order. Files are ordered by poll id, so their row-group statistics skip all but a few polls' rows.
-- Parameters: files (the archive files these polls are in), first, last (poll ids).
with archived as (
    select
        poll_id, seq, fetched_at, endpoint, app_id, livestream_id, session_id, request_path, attempt,
        http_status, elapsed_ms, ratelimit, server_date, outcome, body, error, filename
    from read_parquet(getvariable('files'), filename = true)
    where poll_id between getvariable('first') and getvariable('last')
),

final as (
    select
        a.poll_id, a.seq, a.fetched_at, a.endpoint, a.app_id, a.livestream_id, a.session_id, a.request_path,
        a.attempt, a.http_status, a.elapsed_ms, a.ratelimit, a.server_date, a.outcome, a.body, a.error
    from archived as a
    semi join rebuild_polls as p on p.poll_id = a.poll_id and p.file = a.filename
)

select * from final
order by poll_id, seq;
