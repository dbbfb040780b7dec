-- 005: session_usage kept incrementally and exactly (issue 15). A poll used to compute every observed
-- session's whole usage curve again, a cost that grew with the session's age; now each session's curve
-- keeps its last point in session_usage_state and a poll adds only the segments its new readings make.
-- The usage is exact decimal seconds (to the microsecond) split in integer microseconds, so that adding a
-- segment's pieces to an hour gives exactly what computing the hour from all its segments gives. Every
-- session's usage is computed again by the first load after this migration (usage_stale path 'full').
-- sessions.stop_seen_at is when a snapshot showing the session's stop was first fetched: finalization
-- reads a session's snapshots from there, not from its first sighting.

drop table session_usage;
create table session_usage (
    app_id         varchar       not null,
    livestream_id  varchar       not null,
    session_id     varchar       not null,
    hour           timestamptz   not null,
    ingest_seconds decimal(18, 6) not null,
    viewer_seconds decimal(18, 6) not null,
    primary key (session_id, hour)
);

drop table session_usage_start;
create table session_usage_state (
    session_id     varchar        primary key,
    started_time   timestamptz    not null,
    stopped_time   timestamptz,
    is_final       boolean        not null,
    final_ingest   decimal(18, 6),
    final_viewer   decimal(18, 6),
    point_at       timestamptz    not null,
    ord            integer        not null,
    observed_at    timestamptz    not null,
    poll_id        varchar        not null,
    curve_ingest   decimal(18, 6) not null,
    curve_viewer   decimal(18, 6) not null,
    first_hour     timestamptz
);

-- How the load computes a stale session's usage ('full', 'append' or 'none'; null until it decides) and
-- which of its snapshots are new (those of batch_polls, fetched at batch_since or later).
alter table usage_stale add column path varchar;
alter table usage_stale add column batch_since timestamptz;
alter table usage_stale add column batch_polls varchar[];

insert into usage_stale (session_id, path)
select session_id, 'full'
from sessions
on conflict do update set path = 'full';

alter table sessions add column stop_seen_at timestamptz;

update sessions as s
set stop_seen_at = f.stop_seen_at
from (
    select session_id, min(fetched_at) as stop_seen_at
    from session_snapshots
    where stopped_time is not null
    group by session_id
) as f
where s.session_id = f.session_id;
