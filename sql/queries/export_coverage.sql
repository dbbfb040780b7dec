-- Coverage of an export's period: how well the snapshot polls saw it, and what may still change.
-- Grain: one row for the period.
-- Parameters (session variables, as the reports take them): from_date, to_date (local dates, inclusive), tz (default UTC), max_gap_seconds (longest normal time between two polls; default 150), as_of (the export's instant; default now())
-- Units: counts; seconds; instants in UTC. The period's start and its end (or as_of, if earlier) count as polls, so late or missing polling shows as a gap, as in the data-quality report.
with params as (
    select
        report_start() as period_start,
        report_end() as period_end,
        coalesce(getvariable('as_of')::timestamptz, now()) as as_of,
        greatest(report_start(), least(report_end(), coalesce(getvariable('as_of')::timestamptz, now())))
            as covered_until,
        coalesce(getvariable('max_gap_seconds')::double, 150) as max_gap_seconds
),

polls as (
    select p.started_at, p.outcome
    from poll_runs as p, params
    where p.kind = 'snapshot' and p.started_at >= params.period_start and p.started_at < params.covered_until
),

-- Only polls that read something close a gap (a failed poll saw nothing), as in the data-quality report.
poll_times as (
    select started_at as poll_at from polls where outcome <> 'failed'
    union all
    select period_start from params
    union all
    select covered_until from params
),

gaps as (
    select previous_at as from_at, poll_at as to_at, epoch(poll_at - previous_at) as gap_seconds
    from (select poll_at, lag(poll_at) over (order by poll_at) as previous_at from poll_times)
    where epoch(poll_at - previous_at) > (select max_gap_seconds from params)
),

-- The same sessions as the finance statement and the session log: those whose span overlaps the period.
sessions_in_period as (
    select count(*) as sessions, count(*) filter (where not is_final) as sessions_not_final
    from session_log
    where began_at < report_end() and ended_at >= report_start()
),

issues as (
    select count(*) as parse_issues
    from parse_issues as i, params
    where i.fetched_at >= params.period_start and i.fetched_at < params.period_end
),

-- Days of the API's daywise figures (UTC days); a day differs as in the data-quality report (beyond the
-- tolerance that Cloudflare's integer totals allow), and each app's day has its verdict.
reconciliation as (
    select
        count(distinct day) as days_with_cloudflare_figures,
        count(distinct day) filter (
            where abs(ingest_difference_seconds) > tolerance_seconds
            or abs(viewer_difference_seconds) > tolerance_seconds
            or coalesce(warehouse_sessions, 0) <> coalesce(cloudflare_sessions, 0)
        ) as days_with_difference,
        count(*) filter (where verdict = 'agrees') as app_days_agreeing,
        count(*) filter (where verdict = 'differs') as app_days_differing,
        count(*) filter (where verdict = 'not final') as app_days_not_final,
        coalesce(sum(ingest_difference_seconds), 0) as ingest_difference_seconds,
        coalesce(sum(viewer_difference_seconds), 0) as viewer_difference_seconds
    from reconciliation_daily
    where day >= report_from_date() and day <= report_to_date()
      and cloudflare_fetched_at is not null
),

final as (
    select
        p.period_start,
        p.period_end,
        p.as_of,
        p.covered_until,
        p.as_of >= p.period_end as period_ended,
        (select count(*) from polls) as snapshot_polls,
        (select count(*) filter (where outcome = 'ok') from polls) as polls_ok,
        (select count(*) filter (where outcome = 'partial') from polls) as polls_partial,
        (select count(*) filter (where outcome = 'failed') from polls) as polls_failed,
        (select min(started_at) from polls) as first_poll_at,
        -- The first poll that read something: before it the period has no data (the chart shades it).
        (select min(started_at) from polls where outcome <> 'failed') as first_read_at,
        (select max(started_at) from polls) as last_poll_at,
        p.max_gap_seconds,
        (select count(*) from gaps) as gaps,
        (select round(coalesce(sum(gap_seconds), 0), 3) from gaps) as gap_seconds,
        (select round(coalesce(max(gap_seconds), 0), 3) from gaps) as longest_gap_seconds,
        (select arg_max(from_at, (gap_seconds, from_at)) from gaps) as longest_gap_from,
        (select arg_max(to_at, (gap_seconds, from_at)) from gaps) as longest_gap_to,
        s.sessions,
        s.sessions_not_final,
        i.parse_issues,
        r.days_with_cloudflare_figures,
        r.days_with_difference,
        r.app_days_agreeing,
        r.app_days_differing,
        r.app_days_not_final,
        round(r.ingest_difference_seconds, 3) as ingest_difference_seconds,
        round(r.viewer_difference_seconds, 3) as viewer_difference_seconds
    from params as p, sessions_in_period as s, issues as i, reconciliation as r
)

select * from final;
