-- Poll health of a period: polls by outcome with their requests, retries, 429s, parse issues and time.
-- Grain: one row per poll kind (snapshot, reconcile) and outcome (ok, partial, failed).
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: kind [text], outcome [text], polls [count], requests [count], retries [count],
-- Columns: rate_limited [count], parse_issues [count], avg_poll_seconds [seconds],
-- Columns: max_poll_seconds [seconds], last_started_at [UTC instant]
-- Units: counts; seconds for the poll time (network + normalize + load); instants in UTC.
with in_period as (
    select *
    from poll_runs
    where started_at >= report_start() and started_at < report_end()
),

final as (
    select
        kind,
        outcome,
        count(*) as polls,
        sum(requests) as requests,
        sum(retries) as retries,
        sum(rate_limited) as rate_limited,
        sum(parse_issues) as parse_issues,
        round(avg(network_seconds + normalize_seconds + load_seconds), 3) as avg_poll_seconds,
        round(max(network_seconds + normalize_seconds + load_seconds), 3) as max_poll_seconds,
        max(started_at) as last_started_at
    from in_period
    group by kind, outcome
)

select * from final
order by kind, outcome;
