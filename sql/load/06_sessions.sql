-- Upsert one row per session from the batch's observations of it. Reads: staged_sessions.
-- The newest observation on the API's clock wins (observed_at, the response's Date; within one second the
-- later received): an answer can reach us long after the API wrote it (a slow network, a stalled process,
-- another poll running beside this one), and its figures are then older than those of answers received
-- before it. A null in a typed column (possibly a parse failure, see parse_issues) never erases a known
-- value, and a session once stopped stays stopped. A final session's figures are those of its confirming
-- read (load/10_finalize.sql): no later observation changes them. last_seen_at and last_poll_id say when a
-- poll last received it; stop_seen_at when a snapshot showing the stop was first fetched. Within a batch
-- of many polls (rebuild) typed columns take their last non-null value, as loading the polls one by one
-- would.
merge into sessions as t
using (
    select
        session_id, livestream_id, app_id, fetched_at, observed_at,
        last_value(status ignore nulls) over whole as status,
        last_value(created_at ignore nulls) over whole as created_at,
        last_value(updated_at ignore nulls) over whole as updated_at,
        last_value(invoked_time ignore nulls) over whole as invoked_time,
        last_value(started_time ignore nulls) over whole as started_time,
        last_value(stopped_time ignore nulls) over whole as stopped_time,
        last_value(err_message ignore nulls) over whole as err_message,
        last_value(ingest_seconds ignore nulls) over whole as ingest_seconds,
        last_value(viewer_seconds ignore nulls) over whole as viewer_seconds,
        min(fetched_at) over whole as first_fetched_at,
        min(fetched_at) filter (where stopped_time is not null) over whole as first_stop_fetched_at,
        max(fetched_at) over whole as last_fetched_at,
        arg_max(poll_id, fetched_at) over whole as last_fetched_poll_id
    from staged_sessions
    window whole as (
        partition by session_id order by observed_at, fetched_at, seq
        rows between unbounded preceding and unbounded following
    )
    qualify row_number() over (partition by session_id order by observed_at desc, fetched_at desc, seq desc) = 1
) as s
on t.session_id = s.session_id
when matched and (
    s.observed_at > t.last_observed_at
    or (s.observed_at = t.last_observed_at and s.fetched_at >= t.last_seen_at)
    or t.last_observed_at is null
) then update set
    livestream_id = s.livestream_id,
    app_id = s.app_id,
    status = coalesce(s.status, t.status),
    created_at = coalesce(s.created_at, t.created_at),
    updated_at = coalesce(s.updated_at, t.updated_at),
    invoked_time = coalesce(s.invoked_time, t.invoked_time),
    started_time = coalesce(s.started_time, t.started_time),
    stopped_time = coalesce(s.stopped_time, t.stopped_time),
    err_message = coalesce(s.err_message, t.err_message),
    ingest_seconds = case when t.is_final then t.ingest_seconds else coalesce(s.ingest_seconds, t.ingest_seconds) end,
    viewer_seconds = case when t.is_final then t.viewer_seconds else coalesce(s.viewer_seconds, t.viewer_seconds) end,
    first_seen_at = least(t.first_seen_at, s.first_fetched_at),
    last_seen_at = greatest(t.last_seen_at, s.last_fetched_at),
    last_poll_id = case when s.last_fetched_at >= t.last_seen_at then s.last_fetched_poll_id else t.last_poll_id end,
    last_observed_at = s.observed_at,
    stop_seen_at = least(t.stop_seen_at, s.first_stop_fetched_at)
when matched then update set
    stop_seen_at = least(t.stop_seen_at, s.first_stop_fetched_at),
    first_seen_at = least(t.first_seen_at, s.first_fetched_at),
    last_seen_at = greatest(t.last_seen_at, s.last_fetched_at),
    last_poll_id = case when s.last_fetched_at >= t.last_seen_at then s.last_fetched_poll_id else t.last_poll_id end
when not matched then insert (
    session_id, livestream_id, app_id, status, created_at, updated_at, invoked_time, started_time,
    stopped_time, err_message, ingest_seconds, viewer_seconds, is_final, first_seen_at, last_seen_at,
    last_poll_id, last_observed_at, stop_seen_at
) values (
    s.session_id, s.livestream_id, s.app_id, s.status, s.created_at, s.updated_at, s.invoked_time,
    s.started_time, s.stopped_time, s.err_message, s.ingest_seconds, s.viewer_seconds, false,
    s.first_fetched_at, s.last_fetched_at, s.last_fetched_poll_id, s.observed_at, s.first_stop_fetched_at
);
