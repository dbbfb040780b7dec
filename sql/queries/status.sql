-- One row: the health of the warehouse now: the last successful poll (outcome ok: it read all it
-- planned; a partial poll is not one), the last hour's polls by outcome, sessions open and not yet
-- final, and the requests sent in the budget window. Parameters: window_seconds.
with snapshots as (
    select *
    from poll_runs
    where kind = 'snapshot'
),

final as (
    select
        (select max(finished_at) from snapshots where outcome = 'ok') as last_success_at,
        (select max(started_at) from snapshots) as last_poll_at,
        (select arg_max(outcome, started_at) from snapshots) as last_outcome,
        (select arg_max(message, started_at) from snapshots) as last_message,
        (select count(*) from snapshots where started_at > now() - interval 1 hour and outcome = 'ok')
            as polls_ok_last_hour,
        (select count(*) from snapshots where started_at > now() - interval 1 hour and outcome = 'partial')
            as polls_partial_last_hour,
        (select count(*) from snapshots where started_at > now() - interval 1 hour and outcome = 'failed')
            as polls_failed_last_hour,
        (
            select coalesce(sum(rate_limited), 0) from snapshots where started_at > now() - interval 1 hour
        ) as rate_limited_last_hour,
        (
            select coalesce(sum(parse_issues), 0) from snapshots where started_at > now() - interval 1 hour
        ) as parse_issues_last_hour,
        (select count(*) from sessions where stopped_time is null and not is_final) as sessions_open,
        (select count(*) from unfinished_sessions) as sessions_not_final,
        (
            select count(*)
            from raw_responses
            where fetched_at > now() - to_seconds(getvariable('window_seconds')::double)
        ) as requests_in_window
)

select * from final;
