-- One row per UTC day with raw responses, wholly older than `cutoff` (the day ends at or before it): the
-- days `streamledger archive` moves to Parquet. A poll belongs to the UTC day of its first response, so a
-- poll across midnight stays whole. Parameters: cutoff (an instant).
with polls as (
    select poll_id, min(fetched_at) as first_fetched_at, count(*) as responses
    from raw_responses
    group by poll_id
),

days as (
    select cast(first_fetched_at as date) as day, count(*) as polls, sum(responses) as responses
    from polls
    group by all
),

final as (
    select day, polls, responses
    from days
    where cast(day + interval 1 day as timestamptz) <= getvariable('cutoff')
)

select * from final
order by day;
