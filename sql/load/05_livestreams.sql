-- Upsert one row per livestream from the batch's observations of it. Reads: staged_livestreams.
-- The newest observation wins; a null in a typed column (possibly a parse failure, see parse_issues)
-- never erases a known value, nor does a null status, ingest server or playback URL (a livestream always
-- has them: a null is a broken answer). A name or meeting id may really be cleared, so their null counts. A batch may hold many polls (rebuild): within it, typed columns take their
-- last non-null value, so one batch gives what loading its polls one by one gives.
merge into livestreams as t
using (
    select
        livestream_id, app_id, name, meeting_id, fetched_at, poll_id,
        last_value(status ignore nulls) over whole as status,
        last_value(ingest_server ignore nulls) over whole as ingest_server,
        last_value(playback_url ignore nulls) over whole as playback_url,
        last_value(disabled ignore nulls) over whole as disabled,
        last_value(stream_key_fingerprint ignore nulls) over whole as stream_key_fingerprint,
        last_value(created_at ignore nulls) over whole as created_at,
        last_value(updated_at ignore nulls) over whole as updated_at,
        min(fetched_at) over whole as first_fetched_at
    from staged_livestreams
    window whole as (
        partition by livestream_id order by fetched_at, seq rows between unbounded preceding and unbounded following
    )
    qualify row_number() over (partition by livestream_id order by fetched_at desc, seq desc) = 1
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
