-- Data quality of a period: failed, partial and rate-limited polls, polling gaps, parse issues, sessions not yet final, reconciliation differences.
-- Grain: one row per finding (a gap, a kind of parse issue, a session, a day, or a kind of poll failure).
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Parameter max_gap_seconds [seconds] = 150
-- Columns: check [text], subject [text], occurrences [count], first_at [UTC instant],
-- Columns: last_at [UTC instant], detail [text]
-- Units: occurrences are counts; first_at and last_at are UTC instants; details name seconds where they give durations.
with params as (
    select
        report_start() as period_start,
        least(report_end(), now()) as period_end,
        coalesce(getvariable('max_gap_seconds')::double, 150) as max_gap_seconds,
        -- The history starts with the first poll: the warehouse knows nothing of the time before it.
        (select min(started_at) from poll_runs where kind = 'snapshot') as history_start
),

polls as (
    select p.*
    from poll_runs as p, params
    where p.kind = 'snapshot' and p.started_at >= params.period_start and p.started_at < params.period_end
),

poll_problems as (
    select
        case
            when outcome = 'failed' then 'failed polls'
            when outcome = 'partial' then 'partial polls'
            else 'rate-limited polls'
        end as check_name,
        case when outcome in ('failed', 'partial') then outcome else '429 answers' end as subject,
        count(*) as occurrences,
        min(started_at) as first_at,
        max(started_at) as last_at,
        arg_max(split_part(coalesce(message, ''), chr(10), 1), started_at) as detail
    from polls
    where outcome in ('failed', 'partial') or rate_limited > 0
    group by all
),

-- Only polls that read something close a gap (a failed poll saw nothing). The period's edges count as
-- polls, so that a period with late or no polling shows the gap; its start only once the history has
-- begun (the time before the first poll is the history's start, below, not a gap).
poll_times as (
    select started_at as poll_at from polls where outcome <> 'failed'
    union all
    select greatest(period_start, history_start) from params where history_start < period_end
    union all
    select period_end from params where history_start < period_end
),

gaps as (
    select
        'polling gaps' as check_name,
        'no poll for ' || round(epoch(poll_at - previous_at))::bigint || ' s' as subject,
        1 as occurrences,
        previous_at as first_at,
        poll_at as last_at,
        'expected a poll that did not fail at least every ' || printf('%g', (select max_gap_seconds from params))
        || ' s' as detail
    from (select poll_at, lag(poll_at) over (order by poll_at) as previous_at from poll_times)
    where epoch(poll_at - previous_at) > (select max_gap_seconds from params)
),

history_start as (
    select
        'history start' as check_name,
        coalesce('first poll at ' || strftime(timezone('UTC', history_start), '%Y-%m-%d %H:%M:%S UTC'), 'no poll yet') as subject,
        1 as occurrences,
        period_start as first_at,
        history_start as last_at,
        'the history starts with the first poll: nothing is known of the period before it (not a gap)'
            as detail
    from params
    where history_start is null or history_start > period_start
),

issues as (
    select
        'parse issues' as check_name,
        i.endpoint || ' ' || i.field as subject,
        count(*) as occurrences,
        min(i.fetched_at) as first_at,
        max(i.fetched_at) as last_at,
        any_value(i.reason) || ' (e.g. ' || coalesce(left(any_value(i.raw_value), 60), 'null') || ')' as detail
    from parse_issues as i, params
    where i.fetched_at >= params.period_start and i.fetched_at < params.period_end
    group by i.endpoint, i.field
),

not_final as (
    select
        'sessions not yet final' as check_name,
        u.session_id || ' on livestream ' || u.livestream_id as subject,
        1 as occurrences,
        u.stopped_time as first_at,
        u.last_seen_at as last_at,
        u.reason as detail
    from unfinished_sessions as u
    inner join session_log as l on l.session_id = u.session_id
    cross join params
    where l.began_at < params.period_end and l.ended_at >= params.period_start
),

reconciliation as (
    select
        'reconciliation differences' as check_name,
        r.app_id || ' on ' || r.day as subject,
        1 as occurrences,
        r.cloudflare_fetched_at as first_at,
        r.cloudflare_fetched_at as last_at,
        'sessions ' || coalesce(r.warehouse_sessions, 0) || ' here vs ' || coalesce(r.cloudflare_sessions, 0)
        || ' at Cloudflare; ingest ' || round(r.ingest_difference_seconds, 3) || ' s, viewer '
        || round(r.viewer_difference_seconds, 3) || ' s (tolerance ' || r.tolerance_seconds || ' s); '
        || r.verdict || ': ' || r.verdict_reason as detail
    from reconciliation_daily as r
    where r.day >= report_from_date() and r.day <= report_to_date()
      and r.cloudflare_fetched_at is not null
      -- Cloudflare's totals are integers: a difference within the tolerance is its rounding, not a finding.
      and (
          abs(r.ingest_difference_seconds) > r.tolerance_seconds
          or abs(r.viewer_difference_seconds) > r.tolerance_seconds
          or coalesce(r.warehouse_sessions, 0) <> coalesce(r.cloudflare_sessions, 0)
      )
),

final as (
    select * from poll_problems
    union all
    select * from gaps
    union all
    select * from history_start
    union all
    select * from issues
    union all
    select * from not_final
    union all
    select * from reconciliation
)

select check_name as "check", subject, occurrences, first_at, last_at, detail
from final
order by "check", first_at nulls first, subject;
