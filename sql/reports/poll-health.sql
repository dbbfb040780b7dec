-- Poll health of a period: polls by outcome with their requests, retries, 429s, parse issues and time.
-- Grain: one row per poll kind (snapshot, reconcile) and outcome (ok, partial, failed).
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: kind [text], outcome [text], polls [count], requests [count], retries [count],
-- Columns: rate_limited [count], parse_issues [count], avg_poll_seconds [seconds],
-- Columns: max_poll_seconds [seconds], first_started_at [UTC instant], last_started_at [UTC instant],
-- Columns: history_starts_at [UTC instant]
-- Units: counts; seconds for the poll time (network + normalize + load); instants in UTC.
with in_period as (
    select *
    from poll_runs
    where started_at >= report_start() and started_at < report_end()
),

-- The history of each kind of poll starts with its first one: before it, no poll is not a gap.
history as (
    select kind, min(started_at) as history_starts_at
    from poll_runs
    group by kind
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
        min(started_at) as first_started_at,
        max(started_at) as last_started_at,
        any_value(h.history_starts_at) as history_starts_at
    from in_period
    left join history as h using (kind)
    group by kind, outcome
)

select * from final
order by kind, outcome;
