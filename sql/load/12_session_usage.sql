-- Keep session_usage for the sessions marked stale, by the rule stated in
-- sql/definitions/06_usage_point_at.sql: those this batch observed (the temporary usage_marks of
-- load/11_usage_stale.sql or warehouse/usage_month.sql) and those usage_stale holds (marked by
-- load/01_clear_poll.sql or a migration), in one of three ways per session (usage_plan.path):
--   append: the batch's readings all come after the last point of the session's curve (session_usage_state)
--           and move no earlier point (no new stop before it, no final figure below it): only the new steps
--           are computed, and their pieces are added to the hours they reach. A poll then costs what its new
--           readings cost, however old the session and however long the history.
--   none:   a final session's later readings (clamped to its stop, at or above its final figures) and a
--           session that never started change nothing.
--   full:   anything else (a new session, a reloaded poll, readings out of order, a stop or final figures
--           that move earlier points, the first load after migration 005, rebuild): its whole curve again.
-- Both ways give the same session_usage exactly (the rule's split is in integer microseconds).
create or replace temp table usage_marked as
select
    coalesce(m.session_id, u.session_id) as session_id,
    coalesce(u.path, m.path) as path,
    m.batch_since,  -- usage_stale's own batch columns are no longer written: null
    m.batch_polls
from usage_marks as m
full outer join usage_stale as u on u.session_id = m.session_id;

-- A poll's few stale ids also go into the variable usage_stale_ids (null past 2,048, DuckDB's
-- index_scan_max_count): a filter on that constant list reads sessions and session_usage_state through their
-- primary-key index, where a join would read every row of tables that grow with the history.
set variable usage_stale_ids = (
    select case when count(*) <= 2048 then coalesce(list(session_id), []) end
    from usage_marked
);

create or replace temp table usage_sessions as
select
    s.session_id, s.app_id, s.livestream_id, s.started_time, s.stopped_time,
    coalesce(s.is_final, false) as is_final,
    s.ingest_seconds::decimal(18, 6) as final_ingest,
    s.viewer_seconds::decimal(18, 6) as final_viewer,
    u.path as asked_path,
    u.batch_since,
    u.batch_polls
from sessions as s
inner join usage_marked as u on u.session_id = s.session_id
where s.session_id in (select session_id from usage_marked)
  and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), s.session_id));

create or replace temp table usage_states as
select *
from session_usage_state
where session_id in (select session_id from usage_marked)
  and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id));

-- The batch's readings of the stale sessions (the snapshots of the polls that marked them), on their curves.
set variable usage_batch_since = coalesce(
    (select min(batch_since) from usage_sessions), 'infinity'::timestamptz
);

create or replace temp table usage_batch as
select
    ss.session_id,
    usage_point_at(ss.observed_at, s.started_time, s.stopped_time) as point_at,
    ss.observed_at,
    ss.poll_id,
    ss.ingest_seconds::decimal(18, 6) as ingest,
    ss.viewer_seconds::decimal(18, 6) as viewer
from session_snapshots as ss
inner join usage_sessions as s on s.session_id = ss.session_id
where ss.fetched_at >= getvariable('usage_batch_since')
  and ss.fetched_at >= s.batch_since
  and list_contains(s.batch_polls, ss.poll_id)
  and s.started_time is not null
  and usage_is_reading(ss.ingest_seconds, ss.viewer_seconds, ss.observed_at, s.started_time);

create or replace temp table usage_plan as
with batch as (
    select
        b.session_id,
        count(*) filter (
            where (b.point_at, 1, b.observed_at, b.poll_id) <= (st.point_at, st.ord, st.observed_at, st.poll_id)
        ) as not_after_last,
        count(*) filter (
            where b.point_at < s.stopped_time or b.ingest < s.final_ingest or b.viewer < s.final_viewer
        ) as below_final
    from usage_batch as b
    inner join usage_sessions as s on s.session_id = b.session_id
    inner join usage_states as st on st.session_id = b.session_id
    group by b.session_id
),

final as (
    select
        s.session_id,
        case
            when s.started_time is null then 'none'
            when s.asked_path = 'full' or st.session_id is null or st.started_time <> s.started_time then 'full'
            when st.is_final then
                case
                    when s.is_final
                        and s.stopped_time = st.stopped_time
                        and s.final_ingest = st.final_ingest
                        and s.final_viewer = st.final_viewer
                        and coalesce(b.below_final, 0) = 0
                        then 'none'
                    else 'full'
                end
            when st.stopped_time is not null and s.stopped_time is distinct from st.stopped_time then 'full'
            when s.stopped_time is not null and st.point_at > s.stopped_time then 'full'
            when s.is_final and (st.curve_ingest > s.final_ingest or st.curve_viewer > s.final_viewer) then 'full'
            when coalesce(b.not_after_last, 0) > 0 then 'full'
            else 'append'
        end as path
    from usage_sessions as s
    left join usage_states as st on st.session_id = s.session_id
    left join batch as b on b.session_id = s.session_id
)

select * from final;

-- A full session's readings are looked for from a day before the earliest start on (usage_is_reading drops
-- earlier ones), so a poll reads only the recent end of session_snapshots.
set variable usage_since = coalesce(
    (
        select min(s.started_time) - interval 1 day
        from usage_sessions as s
        inner join usage_plan as p on p.session_id = s.session_id
        where p.path = 'full'
    ),
    'infinity'::timestamptz
);

-- Every point of the curves computed: a full session's start, readings and stop; an appended session's
-- last point (from session_usage_state, with the curve's value there), the batch's readings and its stop.
create or replace temp table usage_points as
with computed as (
    select s.*, p.path
    from usage_sessions as s
    inner join usage_plan as p on p.session_id = s.session_id
    where p.path in ('full', 'append')
),

starts as (
    select
        session_id, started_time as point_at, 0 as ord, started_time as observed_at, '' as poll_id,
        0::decimal(18, 6) as ingest, 0::decimal(18, 6) as viewer
    from computed
    where path = 'full'
),

history as (
    select
        ss.session_id,
        usage_point_at(ss.observed_at, c.started_time, c.stopped_time) as point_at,
        1 as ord,
        ss.observed_at,
        ss.poll_id,
        ss.ingest_seconds::decimal(18, 6) as ingest,
        ss.viewer_seconds::decimal(18, 6) as viewer
    from session_snapshots as ss
    inner join computed as c on c.session_id = ss.session_id
    where c.path = 'full'
      and ss.observed_at >= getvariable('usage_since')
      and usage_is_reading(ss.ingest_seconds, ss.viewer_seconds, ss.observed_at, c.started_time)
),

seeds as (
    select st.session_id, st.point_at, st.ord, st.observed_at, st.poll_id, st.curve_ingest, st.curve_viewer
    from usage_states as st
    inner join computed as c on c.session_id = st.session_id
    where c.path = 'append'
),

batch as (
    select b.session_id, b.point_at, 1 as ord, b.observed_at, b.poll_id, b.ingest, b.viewer
    from usage_batch as b
    inner join computed as c on c.session_id = b.session_id
    where c.path = 'append'
),

stops as (
    select
        session_id, stopped_time as point_at, 2 as ord, stopped_time as observed_at, '' as poll_id,
        final_ingest as ingest, final_viewer as viewer
    from computed
    where is_final and stopped_time is not null
),

final as (
    select * from starts
    union all select * from history
    union all select * from seeds
    union all select * from batch
    union all select * from stops
)

select * from final;

-- The steps between consecutive points, in integer microseconds of the monotone (and, once final, capped)
-- curve; each point keeps the curve's value there for session_usage_state, and the last says it is. One
-- order for every window (one sort): a point's curve is the running maximum up to it, the previous point's
-- the running maximum up to the one before.
create or replace temp table usage_steps as
with running as (
    select
        p.session_id, p.point_at, p.ord, p.observed_at, p.poll_id,
        max(p.ingest) over (w rows unbounded preceding) as max_ingest,
        max(p.viewer) over (w rows unbounded preceding) as max_viewer,
        max(p.ingest) over (w rows between unbounded preceding and 1 preceding) as before_ingest,
        max(p.viewer) over (w rows between unbounded preceding and 1 preceding) as before_viewer,
        lag(p.point_at) over w as from_at,
        lead(p.point_at) over w is null as is_last,
        s.is_final, s.final_ingest, s.final_viewer
    from usage_points as p
    inner join usage_sessions as s on s.session_id = p.session_id
    -- (session_id, poll_id) is unique among readings: a total order, the same in every window.
    window w as (partition by p.session_id order by p.point_at, p.ord, p.observed_at, p.poll_id)
),

monotone as (
    select
        *,
        case when is_final then least(max_ingest, final_ingest) else max_ingest end as ingest,
        case when is_final then least(max_viewer, final_viewer) else max_viewer end as viewer,
        case when is_final then least(before_ingest, final_ingest) else before_ingest end as ingest_before,
        case when is_final then least(before_viewer, final_viewer) else before_viewer end as viewer_before
    from running
),

final as (
    select
        session_id, point_at, ord, observed_at, poll_id,
        ingest as curve_ingest,
        viewer as curve_viewer,
        from_at,
        point_at as to_at,
        ((ingest - ingest_before) * 1000000)::hugeint as ingest_us,
        ((viewer - viewer_before) * 1000000)::hugeint as viewer_us,
        is_last
    from monotone
)

select * from final;

create or replace temp table usage_hours as
with step_hours as (
    select
        session_id, from_at, to_at, ingest_us, viewer_us,
        unnest(generate_series(date_trunc('hour', from_at), to_at, interval 1 hour)) as hour
    from usage_steps
    where from_at is not null and (ingest_us > 0 or viewer_us > 0)
),

pieces as (
    select
        session_id,
        hour,
        usage_piece_us(ingest_us, from_at, to_at, hour) as ingest_us,
        usage_piece_us(viewer_us, from_at, to_at, hour) as viewer_us
    from step_hours
),

final as (
    select
        s.app_id,
        s.livestream_id,
        p.session_id,
        p.hour,
        (sum(p.ingest_us)::decimal(38, 0) * 0.000001::decimal(7, 6))::decimal(18, 6) as ingest_seconds,
        (sum(p.viewer_us)::decimal(38, 0) * 0.000001::decimal(7, 6))::decimal(18, 6) as viewer_seconds
    from pieces as p
    inner join usage_sessions as s on s.session_id = p.session_id
    where p.ingest_us > 0 or p.viewer_us > 0
    group by all
)

select * from final;

-- A full session's old rows go; no session has rows before the first hour its state records.
set variable usage_replaced_from = coalesce(
    (
        select min(st.first_hour)
        from usage_states as st
        inner join usage_plan as p on p.session_id = st.session_id
        where p.path = 'full'
    ),
    'infinity'::timestamptz
);

delete from session_usage
where hour >= getvariable('usage_replaced_from')
  and session_id in (select session_id from usage_plan where path = 'full')
  and (getvariable('usage_stale_ids') is null or list_contains(getvariable('usage_stale_ids'), session_id));

-- A full session's hours are new rows; an appended session's add to the hours its new steps reach.
insert into session_usage (app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds)
select app_id, livestream_id, session_id, hour, ingest_seconds, viewer_seconds
from usage_hours
order by hour, session_id
on conflict (session_id, hour) do update set
    ingest_seconds = ingest_seconds + excluded.ingest_seconds,
    viewer_seconds = viewer_seconds + excluded.viewer_seconds;

-- Each computed session's new state: its last point, its figures, the first hour of its curve.
create or replace temp table usage_new_states as
with first_hours as (
    select session_id, min(hour) as first_hour
    from usage_hours
    group by session_id
),

final as (
    select
        s.session_id,
        s.started_time,
        s.stopped_time,
        s.is_final,
        case when s.is_final then s.final_ingest end as final_ingest,
        case when s.is_final then s.final_viewer end as final_viewer,
        l.point_at,
        l.ord,
        l.observed_at,
        l.poll_id,
        l.curve_ingest,
        l.curve_viewer,
        case when p.path = 'full' then h.first_hour else least(st.first_hour, h.first_hour) end as first_hour,
        st.session_id is not null as has_state
    from usage_sessions as s
    inner join usage_plan as p on p.session_id = s.session_id
    inner join usage_steps as l on l.session_id = s.session_id and l.is_last
    left join first_hours as h on h.session_id = s.session_id
    left join usage_states as st on st.session_id = s.session_id
    where p.path in ('full', 'append')
)

select * from final;

-- Updated in place where a state exists (usage_states holds every existing state of these sessions), added
-- where none does: cheaper than replacing rows of a keyed table.
update session_usage_state as t
set
    started_time = n.started_time,
    stopped_time = n.stopped_time,
    is_final = n.is_final,
    final_ingest = n.final_ingest,
    final_viewer = n.final_viewer,
    point_at = n.point_at,
    ord = n.ord,
    observed_at = n.observed_at,
    poll_id = n.poll_id,
    curve_ingest = n.curve_ingest,
    curve_viewer = n.curve_viewer,
    first_hour = n.first_hour
from usage_new_states as n
where n.has_state and t.session_id = n.session_id;

insert into session_usage_state (
    session_id, started_time, stopped_time, is_final, final_ingest, final_viewer, point_at, ord, observed_at,
    poll_id, curve_ingest, curve_viewer, first_hour
)
select
    session_id, started_time, stopped_time, is_final, final_ingest, final_viewer, point_at, ord, observed_at,
    poll_id, curve_ingest, curve_viewer, first_hour
from usage_new_states
where not has_state;

delete from usage_stale;

drop table usage_marks;
drop table usage_marked;
drop table usage_sessions;
drop table usage_states;
drop table usage_batch;
drop table usage_plan;
drop table usage_points;
drop table usage_steps;
drop table usage_hours;
drop table usage_new_states;

reset variable usage_stale_ids;
