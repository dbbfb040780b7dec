-- Upsert one row per livestream from the batch's observations of it. Reads: staged_livestreams.
-- The newest observation wins; a null in a typed column (possibly a parse failure, see parse_issues)
-- never erases a known value, nor does a null status, ingest server or playback URL (a livestream always
-- has them: a null is a broken answer). A name or meeting id may really be cleared, so their null counts. A batch may hold many polls (rebuild): within it, typed columns take their
-- last non-null value (arg_max skips nulls; arg_max_null takes the newest row's value, null or not), so
-- one batch gives what loading its polls one by one gives. Aggregates, not windows: a hash aggregate costs
-- a poll of 10,000 livestreams a fraction of what sorting every partition did.
merge into livestreams as t
using (
    -- Ordered by (fetched_at, seq), packed into one number: a struct key costs every arg_max twice as much.
    with observed as (
        select *, epoch_us(fetched_at)::hugeint * 4294967296 + seq as newest
        from staged_livestreams
    )

    select
        livestream_id,
        arg_max_null(app_id, newest) as app_id,
        arg_max_null(name, newest) as name,
        arg_max_null(meeting_id, newest) as meeting_id,
        max(fetched_at) as fetched_at,
        arg_max_null(poll_id, newest) as poll_id,
        arg_max(status, newest) as status,
        arg_max(ingest_server, newest) as ingest_server,
        arg_max(playback_url, newest) as playback_url,
        arg_max(disabled, newest) as disabled,
        arg_max(stream_key_fingerprint, newest) as stream_key_fingerprint,
        arg_max(created_at, newest) as created_at,
        arg_max(updated_at, newest) as updated_at,
        min(fetched_at) as first_fetched_at
    from observed
    group by livestream_id
) as s
on t.livestream_id = s.livestream_id
when matched and s.fetched_at >= t.last_seen_at then update set
    app_id = s.app_id,
    name = s.name,
    meeting_id = s.meeting_id,
    status = coalesce(s.status, t.status),
    disabled = coalesce(s.disabled, t.disabled),
    ingest_server = coalesce(s.ingest_server, t.ingest_server),
    playback_url = coalesce(s.playback_url, t.playback_url),
    stream_key_fingerprint = coalesce(s.stream_key_fingerprint, t.stream_key_fingerprint),
    created_at = coalesce(s.created_at, t.created_at),
    updated_at = coalesce(s.updated_at, t.updated_at),
    first_seen_at = least(t.first_seen_at, s.first_fetched_at),
    last_seen_at = s.fetched_at,
    last_poll_id = s.poll_id
when matched then update set
    first_seen_at = least(t.first_seen_at, s.first_fetched_at)
when not matched then insert (
    livestream_id, app_id, name, meeting_id, status, disabled, ingest_server, playback_url,
    stream_key_fingerprint, created_at, updated_at, first_seen_at, last_seen_at, last_poll_id
) values (
    s.livestream_id, s.app_id, s.name, s.meeting_id, s.status, s.disabled, s.ingest_server, s.playback_url,
    s.stream_key_fingerprint, s.created_at, s.updated_at, s.first_fetched_at, s.fetched_at, s.poll_id
);
