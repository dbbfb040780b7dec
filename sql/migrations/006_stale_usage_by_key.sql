-- 006: a poll's session_usage refresh reads its stale sessions by key and their rows by time, instead of
-- reading every session and every row of session_usage.
-- The refresh (sql/load/12_session_usage.sql) sets the variable usage_stale_ids to the list of usage_stale's
-- ids when they are few (a poll's: about as many as live sessions). A filter on a constant list of ids is
-- answered by the primary-key index of sessions, so a poll reads those sessions alone rather than the whole
-- table, which grows with the history (1 M rows at 100 M snapshots). Unset (null), as in rebuild, the
-- macro reads every session as before. Otherwise the macro is migration 004's, unchanged: one row per stale
-- session per UTC hour with usage, by the rule of migration 002, from readings observed at `since` or later.
create or replace macro stale_session_usage(since) as table
with started as (
    select
        session_id, app_id, livestream_id, started_time, stopped_time, is_final,
        ingest_seconds as final_ingest, viewer_seconds as final_viewer
    from sessions
    where started_time is not null
      and session_id in (select session_id from usage_stale)
      and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id))
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

-- One row per session with rows in session_usage: the earliest hour among them, kept by the refresh in the
-- same transaction as the rows. The rows a refresh replaces are then looked for from that hour on, and
-- DuckDB's zone maps skip the row groups before it: session_usage grows in time order, as polls append.
-- (A bound from the sessions' started_time would not do: an earlier refresh may have used another.)
create table session_usage_start (
    session_id varchar primary key,
    first_hour timestamptz not null
);
insert into session_usage_start (session_id, first_hour)
select session_id, min(hour)
from session_usage
group by session_id;
