-- Upsert one row per session from the batch's observations of it. Reads: staged_sessions.
-- The newest observation on the API's clock wins (observed_at, the response's Date; within one second the
-- later received): an answer can reach us long after the API wrote it (a slow network, a stalled process,
-- another poll running beside this one), and its figures are then older than those of answers received
-- before it. A null in a typed column (possibly a parse failure, see parse_issues) never erases a known
-- value, and a session once stopped stays stopped. A final session's figures are those of its confirming
-- read (load/10_finalize.sql): no later observation changes them. last_seen_at and last_poll_id say when a
-- poll last received it; stop_seen_at when a snapshot showing the stop was first fetched. Within a batch
-- of many polls (rebuild) typed columns take their last non-null value (arg_max skips nulls; arg_max_null
-- takes the newest row's value), as loading the polls one by one would. Aggregates, not windows: a hash aggregate is far cheaper than sorting every partition.
merge into sessions as t
using (
    with observed as (
        select *, (observed_at, fetched_at, seq) as newest
        from staged_sessions
    )

    select
        session_id,
        arg_max_null(livestream_id, newest) as livestream_id,
        arg_max_null(app_id, newest) as app_id,
        arg_max_null(fetched_at, newest) as fetched_at,
        max(observed_at) as observed_at,
        arg_max(status, newest) as status,
        arg_max(created_at, newest) as created_at,
        arg_max(updated_at, newest) as updated_at,
        arg_max(invoked_time, newest) as invoked_time,
        arg_max(started_time, newest) as started_time,
        arg_max(stopped_time, newest) as stopped_time,
        arg_max(err_message, newest) as err_message,
        arg_max(ingest_seconds, newest) as ingest_seconds,
        arg_max(viewer_seconds, newest) as viewer_seconds,
        min(fetched_at) as first_fetched_at,
        min(fetched_at) filter (where stopped_time is not null) as first_stop_fetched_at,
        max(fetched_at) as last_fetched_at,
        arg_max(poll_id, fetched_at) as last_fetched_poll_id
    from observed
    group by session_id
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
