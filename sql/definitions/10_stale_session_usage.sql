-- The usage rule: the source of every finance figure. Stated here once; session_usage is computed with this
-- macro by the load (sql/load/12_session_usage.sql), for the sessions each poll observed, and by rebuild.
--
-- One row per stale session (in usage_stale) per UTC hour with usage: the ingest and viewer seconds used in
-- that hour. Rule: a session's cumulative figures form a curve on the API's clock: 0 at started_time; each
-- reading at the time it was observed, clamped into [started_time, stopped_time]; the final figures at
-- stopped_time once the session is final. Points at one instant (every reading after the stop is clamped to
-- it) follow each other in the order they were observed, the same order for the running maximum and for
-- the steps between points, so a tie can neither count a step twice nor drop one. Placeholders (both figures exactly 60 within 90 s of the start)
-- are not readings. The curve is made monotone (running maximum; a dip is not negative usage) and, for a
-- final session, capped at the final figures, so its hours sum to the final figures. Between two points
-- usage is spread evenly over time: an unobserved stretch (between polls, or from the last reading to the
-- stop) lands in the hours it spans, split at every hour, day and month boundary. A session that never
-- started has no usage.
--
-- Readings are looked for from `since` on: the load passes a day before the stale sessions' earliest start
-- (the rule clamps earlier readings to the start anyway), so that a poll reads only the recent end of
-- session_snapshots. The variable usage_stale_ids, when set, is the list of usage_stale's ids (a poll's
-- few): a filter on a constant list of ids is answered by the primary-key index of sessions, so a poll reads
-- those sessions alone rather than the whole table, which grows with the history. Unset (null: more than
-- 2,048 stale sessions, as in a rebuild), the stale sessions are found through usage_stale alone.
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
        ss.observed_at,
        ss.poll_id,
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
    select
        session_id, started_time as point_at, 0 as ord, started_time as observed_at, '' as poll_id,
        0.0::double as ingest, 0.0::double as viewer
    from started
    union all
    select session_id, point_at, 1 as ord, observed_at, poll_id, ingest, viewer
    from readings
    union all
    select
        session_id, stopped_time as point_at, 2 as ord, stopped_time as observed_at, '' as poll_id,
        final_ingest as ingest, final_viewer as viewer
    from started
    where is_final and stopped_time is not null
),

monotone as (
    select
        p.session_id,
        p.point_at,
        p.ord,
        p.observed_at,
        p.poll_id,
        case when s.is_final then least(max(p.ingest) over w, s.final_ingest) else max(p.ingest) over w end
            as ingest,
        case when s.is_final then least(max(p.viewer) over w, s.final_viewer) else max(p.viewer) over w end
            as viewer
    from points as p
    inner join started as s on s.session_id = p.session_id
    -- (session_id, poll_id) is unique among readings: a total order, the same in both windows.
    window w as (
        partition by p.session_id order by p.point_at, p.ord, p.observed_at, p.poll_id rows unbounded preceding
    )
),

segments as (
    select
        session_id,
        lag(point_at) over w as from_at,
        point_at as to_at,
        ingest - lag(ingest) over w as ingest_delta,
        viewer - lag(viewer) over w as viewer_delta
    from monotone
    window w as (partition by session_id order by point_at, ord, observed_at, poll_id)
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

comment on macro table stale_session_usage is
    'The usage rule: one row per stale session (usage_stale) per UTC hour with usage, from the readings '
    'observed at `since` or later. session_usage is computed with it; the rule is stated in '
    'sql/definitions/10_stale_session_usage.sql.';
