-- Concurrency: how many streams were live in each hour of a period, and when the period's peak was.
-- Grain: one row per hour of the period (local hour in tz), hours without a live stream included.
-- Parameter from_date [local date in tz, inclusive] = first day of this month in tz
-- Parameter to_date [local date in tz, inclusive] = today in tz
-- Parameter tz [IANA time zone] = UTC
-- Columns: hour [local time in tz], hour_utc [UTC instant], live_livestreams [count],
-- Columns: peak_concurrent [count], is_period_peak [yes/no]
-- Units: counts of streams. A stream is live from its session's started_time to its stopped_time (or, while running, its last observation). peak_concurrent is the most streams live at one instant in the hour.
with spans as (
    select
        livestream_id,
        started_time as from_at,
        -- A stop reported before the start (clock skew) is an instant, never a negative span.
        greatest(coalesce(stopped_time, last_observed_at, last_seen_at), started_time) as to_at
    from sessions
    where started_time is not null
      and started_time < report_end()
      and coalesce(stopped_time, last_observed_at, last_seen_at) >= report_start()
),

-- What is known ends with the last poll that read something (or now, before any poll): later hours,
-- future ones included, are not shown as hours without a live stream.
known as (
    select least(report_end(), now(), coalesce(max(coalesce(finished_at, started_at)), now())) as known_until
    from poll_runs
    where kind = 'snapshot' and outcome <> 'failed'
),

hours as (
    select g.hour_start
    from (
        select unnest(generate_series(report_start(), report_end() - interval 1 hour, interval 1 hour))
            as hour_start
    ) as g
    cross join known as k
    where g.hour_start < k.known_until
),

hour_overlaps as (
    select
        h.hour_start,
        count(distinct s.livestream_id) as live_livestreams,
        count(s.from_at) filter (where s.from_at <= h.hour_start and s.to_at > h.hour_start) as live_at_start
    from hours as h
    left join spans as s on s.from_at < h.hour_start + interval 1 hour and s.to_at > h.hour_start
    group by h.hour_start
),

-- Streams live right after each start or stop (stops first at the same instant: back-to-back is not two).
events as (
    select
        event_at,
        sum(delta) over (order by event_at, delta rows unbounded preceding) as concurrent
    from (
        select from_at as event_at, 1 as delta from spans
        union all
        select to_at as event_at, -1 as delta from spans
    )
),

per_hour as (
    select
        o.hour_start,
        o.live_livestreams,
        greatest(o.live_at_start, coalesce(max(e.concurrent), 0)) as peak_concurrent
    from hour_overlaps as o
    left join events as e on e.event_at >= o.hour_start and e.event_at < o.hour_start + interval 1 hour
    group by o.hour_start, o.live_livestreams, o.live_at_start
),

final as (
    select
        timezone(report_tz(), hour_start) as hour,
        hour_start as hour_utc,
        live_livestreams,
        peak_concurrent,
        peak_concurrent = max(peak_concurrent) over () and peak_concurrent > 0 as is_period_peak
    from per_hour
)

select * from final
order by hour_utc;
