-- 002: apps, finalization, sweeps, the request plan, analytics, and the usage and reconciliation views.

-- Account-level responses (the apps list) belong to no app.
alter table raw_responses alter column app_id drop not null;
-- The response's Date header: when the API produced it, on the API's own clock.
alter table raw_responses add column server_date timestamptz;

-- When a reading was taken on the API's clock (its Date header, else our fetched_at).
alter table session_snapshots add column observed_at timestamptz;
update session_snapshots set observed_at = fetched_at;

-- A session is final once two reads after its stop agree; finalized_at is the second read's time.
alter table sessions add column is_final boolean default false;
alter table sessions add column finalized_at timestamptz;
update sessions set is_final = false;

-- What the poll planner needs to know per livestream.
alter table livestreams add column last_active_read_at timestamptz;  -- last active-session answer
alter table livestreams add column last_swept_at timestamptz;        -- last read of its session list
alter table livestreams add column swept_updated_at timestamptz;     -- its updated_at at that read

-- The request plan of each poll, and which flow wrote the row.
alter table poll_runs add column kind varchar default 'snapshot';     -- snapshot | reconcile
alter table poll_runs add column allowance integer default 0;         -- requests this poll could spend
alter table poll_runs add column discovery_requests integer default 0;
alter table poll_runs add column planned_final integer default 0;     -- finalization reads sent
alter table poll_runs add column planned_live integer default 0;      -- active-session reads sent
alter table poll_runs add column planned_sweep integer default 0;     -- session-list reads sent
alter table poll_runs add column deferred_final integer default 0;    -- left for the next poll
alter table poll_runs add column deferred_live integer default 0;
alter table poll_runs add column deferred_sweep integer default 0;
update poll_runs set kind = 'snapshot';

-- One row per app of the account.
create table apps (
    app_id        varchar primary key,
    name          varchar,
    created_at    timestamptz,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null,
    last_poll_id  varchar not null
);

-- One row per app per day: Cloudflare's own livestream totals (GET /analytics/livestreams/daywise).
create table analytics_daily (
    app_id               varchar not null,
    date                 date    not null,
    count                bigint,
    total_ingest_seconds double,
    total_viewer_seconds double,
    fetched_at           timestamptz not null,
    poll_id              varchar not null,
    primary key (app_id, date)
);

-- One row per session per UTC hour with usage: the ingest and viewer seconds used in that hour.
-- Rule: a session's cumulative figures form a curve on the API's clock: 0 at started_time; each reading
-- at the time it was observed, clamped into [started_time, stopped_time]; the final figures at
-- stopped_time once the session is final. Placeholders (both figures exactly 60 within 90 s of the
-- start) are not readings. The curve is made monotone (running maximum; a dip is not negative usage)
-- and, for a final session, capped at the final figures, so its hours sum to the final figures. Between
-- two points usage is spread evenly over time: an unobserved stretch (between polls, or from the last
-- reading to the stop) lands in the hours it spans, split at every hour, day and month boundary.
create view session_usage as
with started as (
    select
        session_id, app_id, livestream_id, started_time, stopped_time, is_final,
        ingest_seconds as final_ingest, viewer_seconds as final_viewer
    from sessions
    where started_time is not null
),

readings as (
    select
        s.session_id,
        least(greatest(ss.observed_at, s.started_time), coalesce(s.stopped_time, ss.observed_at)) as point_at,
        ss.ingest_seconds as ingest,
        ss.viewer_seconds as viewer
    from session_snapshots as ss
    inner join started as s on s.session_id = ss.session_id
    where ss.ingest_seconds is not null
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

-- One row per app per UTC day: usage that happened in that day (from session_usage).
create view usage_daily as
select
    app_id,
    cast(hour as date) as day,
    count(distinct session_id) as sessions,
    sum(ingest_seconds) as ingest_seconds,
    sum(viewer_seconds) as viewer_seconds
from session_usage
group by all;

-- One row per app per UTC month: usage that happened in that month (from session_usage).
create view usage_monthly as
select
    app_id,
    cast(date_trunc('month', hour) as date) as month,
    count(distinct session_id) as sessions,
    sum(ingest_seconds) as ingest_seconds,
    sum(viewer_seconds) as viewer_seconds
from session_usage
group by all;

-- One row per app per day: Cloudflare's daywise totals beside the warehouse's, and the difference.
-- Assumed attribution (the API does not document it): a session counts on the UTC day it started
-- (or was invoked, if it never started), with its latest figures (final once `all_final`).
create view reconciliation_daily as
with warehouse as (
    select
        app_id,
        cast(coalesce(started_time, invoked_time, created_at) as date) as day,
        count(*) as sessions,
        sum(coalesce(ingest_seconds, 0)) as ingest_seconds,
        sum(coalesce(viewer_seconds, 0)) as viewer_seconds,
        bool_and(is_final) as all_final
    from sessions
    group by all
),

final as (
    select
        coalesce(c.app_id, w.app_id) as app_id,
        coalesce(c.date, w.day) as day,
        c.count as cloudflare_sessions,
        w.sessions as warehouse_sessions,
        c.total_ingest_seconds as cloudflare_ingest_seconds,
        w.ingest_seconds as warehouse_ingest_seconds,
        coalesce(w.ingest_seconds, 0) - coalesce(c.total_ingest_seconds, 0) as ingest_difference_seconds,
        100 * (coalesce(w.ingest_seconds, 0) - coalesce(c.total_ingest_seconds, 0))
            / nullif(c.total_ingest_seconds, 0) as ingest_difference_percent,
        c.total_viewer_seconds as cloudflare_viewer_seconds,
        w.viewer_seconds as warehouse_viewer_seconds,
        coalesce(w.viewer_seconds, 0) - coalesce(c.total_viewer_seconds, 0) as viewer_difference_seconds,
        100 * (coalesce(w.viewer_seconds, 0) - coalesce(c.total_viewer_seconds, 0))
            / nullif(c.total_viewer_seconds, 0) as viewer_difference_percent,
        coalesce(w.all_final, false) as all_final,
        c.fetched_at as cloudflare_fetched_at
    from analytics_daily as c
    full outer join warehouse as w on w.app_id = c.app_id and w.day = c.date
)

select * from final;

-- One row per session that has stopped (or vanished from its livestream) but is not final yet.
create view unfinished_sessions as
select
    s.session_id,
    s.livestream_id,
    s.app_id,
    s.stopped_time,
    s.last_seen_at,
    case when s.stopped_time is not null then 'stopped, figures not yet stable' else 'no longer active' end
        as reason
from sessions as s
left join livestreams as l on l.livestream_id = s.livestream_id
where not s.is_final
  and (s.stopped_time is not null or l.last_active_read_at > s.last_seen_at);
