-- Mark sessions final: two consecutive reads after the stop (in different polls) report the same
-- figures, and the later (confirming) one was observed at least $settle_seconds after stopped_time, all on
-- the API's clock. The API's final figures land about a minute after the stop (its example: updated_at
-- 62 s after stopped_time), and until then it repeats the figures of the stop: two agreeing reads within
-- that minute would confirm unsettled figures, and a read past it shows the landed ones. Reads follow each
-- other in the order the API wrote them (observed_at, then the order received): with two polls running at
-- once, or an answer slow to arrive, the order we received them in is not the order of their figures. A
-- final session carries the figures of its earliest confirming read, whatever was loaded before or after
-- it (load/06_sessions.sql keeps them); finalized_at is the time that read was fetched. Reads:
-- staged_sessions (sessions touched), $settle_seconds.
-- Only a session whose stop has been seen can be final, and every snapshot showing its stop was fetched at
-- or after its stop_seen_at: the snapshots read start at the earliest stop_seen_at of the touched sessions.
-- DuckDB skips the older row groups of session_snapshots by their fetched_at zone maps, so a poll reads the
-- recent end of the history, and none of it for sessions still running, however old.
create or replace temp table finalize_touched as
select session_id, stop_seen_at
from sessions
where session_id in (select session_id from staged_sessions)
  and stop_seen_at is not null;

set variable finalize_since = coalesce(
    (select min(stop_seen_at) from finalize_touched), 'infinity'::timestamptz
);

update sessions
set
    is_final = true,
    finalized_at = c.finalized_at,
    ingest_seconds = c.ingest_seconds,
    viewer_seconds = c.viewer_seconds
from (
    with touched as (
        select session_id from finalize_touched
    ),

    post_stop as (
        select
            ss.session_id,
            ss.fetched_at,
            ss.observed_at,
            ss.poll_id,
            ss.observed_at >= ss.stopped_time + to_seconds(getvariable('settle_seconds')) as settled,
            ss.ingest_seconds,
            ss.viewer_seconds,
            lag(ss.ingest_seconds) over w as previous_ingest,
            lag(ss.viewer_seconds) over w as previous_viewer
        from session_snapshots as ss
        inner join touched as t on t.session_id = ss.session_id
        where ss.fetched_at >= getvariable('finalize_since')
          and ss.stopped_time is not null and ss.ingest_seconds is not null and ss.viewer_seconds is not null
        window w as (partition by ss.session_id order by ss.observed_at, ss.fetched_at, ss.poll_id)
    ),

    confirming as (
        select session_id, fetched_at as finalized_at, ingest_seconds, viewer_seconds
        from post_stop
        where ingest_seconds = previous_ingest and viewer_seconds = previous_viewer and settled
        qualify row_number() over (partition by session_id order by observed_at, fetched_at, poll_id) = 1
    )

    select * from confirming
) as c
where sessions.session_id = c.session_id
  and (
      not sessions.is_final
      or sessions.finalized_at is distinct from c.finalized_at
      or sessions.ingest_seconds is distinct from c.ingest_seconds
      or sessions.viewer_seconds is distinct from c.viewer_seconds
  );

drop table finalize_touched;
