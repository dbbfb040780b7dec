-- Every request a poll sent is in raw_responses: requests = responses + transport_errors = its rows.
--
-- A poll's ledger row (poll_runs) counts the HTTP requests it sent, every attempt included, the responses
-- it received and the requests that got none (transport errors). raw_responses keeps one row per request,
-- with an http_status exactly when a response came back. The counts and the rows must agree: a missing row
-- is a request whose evidence was lost (the raw responses are the source every other table is rebuilt
-- from), an extra row is a request counted twice, and a ledger row whose counts do not add up was written
-- from a half-recorded poll. The polls of days that `streamledger archive` moved to Parquet have no rows
-- left in raw_responses at all (a day is archived whole); their counts must still add up.
-- One row per poll that disagrees: its counts, its raw_responses rows and those with an http_status.
with raw as (
    select poll_id, count(*) as raw_rows, count(http_status) as raw_with_status
    from raw_responses
    group by poll_id
),

polls as (
    select
        p.poll_id,
        p.requests,
        p.responses,
        p.transport_errors,
        coalesce(r.raw_rows, 0) as raw_rows,
        coalesce(r.raw_with_status, 0) as raw_with_status,
        r.poll_id is null and exists (
            select 1 from raw_archive as a where p.poll_id between a.first_poll_id and a.last_poll_id
        ) as archived
    from poll_runs as p
    left join raw as r on r.poll_id = p.poll_id
),

final as (
    select poll_id, requests, responses, transport_errors, raw_rows, raw_with_status, archived
    from polls
    where requests <> responses + transport_errors
       or (not archived and (raw_rows <> requests or raw_with_status <> responses))
)

select * from final
order by poll_id;
