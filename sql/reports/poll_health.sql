-- One row per outcome of the polls of the last $hours hours: count, requests, retries, 429s, issues, time.
-- Parameters: $hours.
with recent as (
    select *
    from poll_runs
    where started_at > now() - to_hours($hours::bigint)
),

final as (
    select
        outcome,
        count(*) as polls,
        sum(requests) as requests,
        sum(retries) as retries,
        sum(rate_limited) as rate_limited,
        sum(parse_issues) as parse_issues,
        round(avg(network_seconds + normalize_seconds + load_seconds), 3) as avg_poll_seconds,
        max(started_at) as last_started_at
    from recent
    group by outcome
)

select * from final
order by outcome;
