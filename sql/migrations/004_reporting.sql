-- 004: the reporting interface. session_usage becomes a table kept up to date by each poll (only the
-- sessions a poll observed are computed again), so that reports of a month never walk the history; a
-- session log view gives analysts one plain row per session.

-- When the session was last observed, on the API's clock (its Date header, else our fetched_at): the end
-- of a running session's span in reports, on the same clock as its started_time.
alter table sessions add column last_observed_at timestamptz;
update sessions as s
set last_observed_at = o.observed_at
from (select session_id, max(observed_at) as observed_at from session_snapshots group by session_id) as o
where o.session_id = s.session_id;

-- A report's period comes from session variables, so a report file runs unchanged in the duckdb CLI:
--   set variable from_date = date '2026-10-01'; set variable to_date = date '2026-10-31';
--   set variable tz = 'Europe/Paris';
-- from_date and to_date are local dates in tz, both inclusive. Unset: this month to date, in UTC.
create macro report_tz() as coalesce(getvariable('tz')::varchar, 'UTC');
create macro report_from_date() as
    coalesce(getvariable('from_date')::date, date_trunc('month', timezone(report_tz(), now()))::date);
create macro report_to_date() as coalesce(getvariable('to_date')::date, timezone(report_tz(), now())::date);
-- The period as instants: [report_start(), report_end()).
create macro report_start() as timezone(report_tz(), report_from_date()::timestamp);
create macro report_end() as timezone(report_tz(), (report_to_date() + 1)::timestamp);

-- Sessions whose usage must be computed again: filled and emptied inside one load transaction.
create table usage_stale (session_id varchar primary key);

-- One row per stale session per UTC hour with usage, by the rule stated above the session_usage view in
-- migration 002 (which this replaces). Readings are looked for from `since` on: the load passes a day
-- before the stale sessions' earliest start, so that a poll reads only the recent end of the history.
create macro stale_session_usage(since) as table
with started as (
    select
        session_id, app_id, livestream_id, started_time, stopped_time, is_final,
        ingest_seconds as final_ingest, viewer_seconds as final_viewer
    from sessions
    where started_time is not null
      and session_id in (select session_id from usage_stale)
),

readings as (
    select
        s.session_id,
        least(greatest(ss.observed_at, s.started_time), coalesce(s.stopped_time, ss.observed_at)) as point_at,
        ss.ingest_seconds as ingest,
        ss.viewer_seconds as viewer
    from session_snapshots as ss
    inner join started as s on s.session_id = ss.session_id
    where ss.observed_at >= since
      and ss.ingest_seconds is not null
      and ss.viewer_seconds is not null
      and not (
          ss.ingest_seconds = 60 and ss.viewer_seconds = 60
          and ss.observed_at < s.started_time + interval 90 second
      )
),

points as (
    select session_id, started_time as point_at, 0 as ord, 0.0::double as ingest, 0.0::double as viewer
    from started
    union all
    select session_id, point_at, 1 as ord, ingest, viewer
    from readings
    union all
    select session_id, stopped_time as point_at, 2 as ord, final_ingest as ingest, final_viewer as viewer
    from started
    where is_final and stopped_time is not null
),

monotone as (
    select
        p.session_id,
        p.point_at,
        p.ord,
        case when s.is_final then least(max(p.ingest) over w, s.final_ingest) else max(p.ingest) over w end
            as ingest,
        case when s.is_final then least(max(p.viewer) over w, s.final_viewer) else max(p.viewer) over w end
            as viewer
    from points as p
    inner join started as s on s.session_id = p.session_id
    window w as (partition by p.session_id order by p.point_at, p.ord rows unbounded preceding)
),

segments as (
    select
        session_id,
        lag(point_at) over w as from_at,
        point_at as to_at,
        ingest - lag(ingest) over w as ingest_delta,
        viewer - lag(viewer) over w as viewer_delta
    from monotone
    window w as (partition by session_id order by point_at, ord)
),

segment_hours as (
    select
        session_id, from_at, to_at, ingest_delta, viewer_delta,
        unnest(generate_series(date_trunc('hour', from_at), to_at, interval 1 hour)) as hour
    from segments
    where from_at is not null and (ingest_delta > 0 or viewer_delta > 0)
),

shares as (
    select
        session_id,
        hour,
        ingest_delta,
        viewer_delta,
        case
            when to_at = from_at then 1.0
            else epoch(least(to_at, hour + interval 1 hour) - greatest(from_at, hour)) / epoch(to_at - from_at)
        end as share
    from segment_hours
),

final as (
    select
        s.app_id,
        s.livestream_id,
        sh.session_id,
        sh.hour,
        sum(sh.ingest_delta * sh.share) as ingest_seconds,
        sum(sh.viewer_delta * sh.share) as viewer_seconds
    from shares as sh
    inner join started as s on s.session_id = sh.session_id
    where sh.share > 0
    group by all
)

select * from final;

-- One row per session: who, when, how long, the figures, and whether they are final. The interface for
-- ad-hoc questions about sessions (no need to read raw_responses or session_snapshots).
create view session_log as
select
    s.app_id,
    a.name as app_name,
    s.livestream_id,
    l.name as livestream_name,
    l.meeting_id,
    s.session_id,
    s.status,
    s.invoked_time,
    s.started_time,
    s.stopped_time,
    epoch(s.stopped_time - s.started_time) as duration_seconds,  -- null until the session has stopped
    s.ingest_seconds,
    s.viewer_seconds,
    s.is_final,
    s.finalized_at,
    s.err_message,
    s.err_message is not null or s.status = 'ERRORED' as errored,
    -- The span the session occupied: from its start (or invocation) to its stop (or last sighting).
    coalesce(s.started_time, s.invoked_time, s.created_at, s.first_seen_at) as began_at,
    coalesce(s.stopped_time, s.last_observed_at, s.last_seen_at) as ended_at,
    s.first_seen_at,
    s.last_seen_at
from sessions as s
left join livestreams as l on l.livestream_id = s.livestream_id
left join apps as a on a.app_id = s.app_id;

-- One row per session per UTC hour with usage: ingest_seconds and viewer_seconds used in that hour. A
-- table now, computed by the load for the sessions each poll observes (sql/load/12_session_usage.sql).
drop view session_usage;
create table session_usage (
    app_id         varchar     not null,
    livestream_id  varchar     not null,
    session_id     varchar     not null,
    hour           timestamptz not null,
    ingest_seconds double      not null,
    viewer_seconds double      not null,
    primary key (session_id, hour)
);
insert into usage_stale select session_id from sessions;
insert into session_usage (app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds)
select app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds
from stale_session_usage('-infinity'::timestamptz);
delete from usage_stale;

-- One row per session per UTC hour in [period_start, period_end) (an hour belongs to the period when it
-- starts inside it): the reports' way to read session_usage for a period.
create macro session_usage_between(period_start, period_end) as table
select *
from session_usage
where hour >= period_start and hour < period_end;

-- One row per livestream with usage in [period_start, period_end): the seconds used in that period.
create macro livestream_usage_between(period_start, period_end) as table
select
    livestream_id,
    sum(viewer_seconds) as viewer_seconds,
    sum(ingest_seconds) as ingest_seconds
from session_usage_between(period_start, period_end)
group by livestream_id;
