-- The meaning of every table and column, kept in the warehouse itself (duckdb_tables() and duckdb_columns()
-- show them; the docs are generated from them). All instants are TIMESTAMPTZ in UTC. Seconds are DOUBLE
-- (the API's JSON numbers, fraction kept). Applied with the other definitions whenever one of them changes.

comment on table raw_responses is
    'One row per HTTP request sent by a poll (every attempt: retried ones and requests that got no response '
    'too), as received. The source of truth every other table is derived from; days older than the '
    'retention are moved to Parquet files (see raw_archive).';
comment on column raw_responses.poll_id is 'The poll that sent the request (poll_runs.poll_id).';
comment on column raw_responses.seq is 'Order of receipt within the poll, from 1; (poll_id, seq) is unique.';
comment on column raw_responses.fetched_at is
    'When the response (or the failure) was received, on our clock (UTC).';
comment on column raw_responses.endpoint is
    'Which call: list_apps, list_livestreams, active_session, session_by_id, livestream_sessions, '
    'analytics_daywise or analytics_overall.';
comment on column raw_responses.app_id is
    'The app the call was for; null for account-level calls (list_apps).';
comment on column raw_responses.livestream_id is 'The livestream the call was for; null for list calls.';
comment on column raw_responses.session_id is 'The session the call was for (session_by_id); null otherwise.';
comment on column raw_responses.request_path is
    'The full request URL with its query; it never carries the token.';
comment on column raw_responses.attempt is 'Attempt number of this call, from 1 (retries count up).';
comment on column raw_responses.http_status is
    'HTTP status of the response; null when the request got no response (connection error, timeout).';
comment on column raw_responses.elapsed_ms is
    'Milliseconds from sending the request to having its answer (or failure).';
comment on column raw_responses.ratelimit is 'The Ratelimit response header as received; null when absent.';
comment on column raw_responses.outcome is
    'data (an answer), none (no active session), retry (failed, retried) or error (failed for good).';
comment on column raw_responses.body is
    'The response body as received, byte for byte, with stream keys replaced by their fingerprint; null when '
    'there was no response.';
comment on column raw_responses.error is 'Why a retry or error attempt failed, one line; null for answers.';
comment on column raw_responses.server_date is
    'The response''s Date header: when the API produced it, on the API''s clock (UTC, 1 s resolution); null '
    'when absent.';

comment on table poll_runs is
    'One row per poll: kind snapshot (the sessions) or reconcile (Cloudflare''s analytics). The '
    'poll''s ledger row, written in the same transaction as its data: a poll is loaded exactly when its row '
    'is here.';
comment on column poll_runs.poll_id is
    'Sorts by start time: 20261127T183200.123456Z-1a2b3c (UTC start, then random hex).';
comment on column poll_runs.started_at is 'When the poll started, on our clock (UTC).';
comment on column poll_runs.finished_at is 'When its fetching finished, on our clock (UTC).';
comment on column poll_runs.app_ids is 'The apps the poll read.';
comment on column poll_runs.livestreams is 'Distinct livestreams observed.';
comment on column poll_runs.active_reads is 'Active-session reads planned.';
comment on column poll_runs.sessions is 'Distinct sessions observed (its rows in session_snapshots).';
comment on column poll_runs.requests is
    'HTTP requests sent, every attempt: its rows in raw_responses, = responses + transport_errors.';
comment on column poll_runs.responses is
    'HTTP responses received (rows of raw_responses with an http_status).';
comment on column poll_runs.retries is 'Attempts that failed and were retried.';
comment on column poll_runs.rate_limited is 'Responses with HTTP 429.';
comment on column poll_runs.transport_errors is
    'Requests that got no response: connection errors and timeouts.';
comment on column poll_runs.failed_calls is 'Calls that still failed after their retries.';
comment on column poll_runs.parse_issues is 'Values that could not be typed (its rows in parse_issues).';
comment on column poll_runs.unknown_statuses is
    'Observations with a status outside LIVE, IDLE, ERRORED, INVOKED.';
comment on column poll_runs.outcome is
    'ok (read all it planned), partial (some reads failed, each named in message; the rest is kept) or '
    'failed (could not read what it was asked to: no app, no listing, a refused token).';
comment on column poll_runs.message is
    'The failures, one per line (at most 20 and a count), then a warning about the clock when clock_skewed; '
    'null when there is neither.';
comment on column poll_runs.network_seconds is 'Seconds spent fetching (wall clock).';
comment on column poll_runs.normalize_seconds is 'Seconds spent typing the responses (wall clock).';
comment on column poll_runs.load_seconds is
    'Seconds spent loading, up to the ledger row (wall clock; the commit not included).';
comment on column poll_runs.recovered is 'True when loaded from a landing file that an interrupted run left.';
comment on column poll_runs.kind is
    'snapshot (a poll of the sessions) or reconcile (a read of daywise and overall analytics).';
comment on column poll_runs.allowance is 'Requests the poll could spend: its share of the budget window.';
comment on column poll_runs.discovery_requests is 'Requests spent on the apps and livestreams lists.';
comment on column poll_runs.planned_final is 'Finalization reads (session by id) sent.';
comment on column poll_runs.planned_live is 'Active-session reads sent.';
comment on column poll_runs.planned_sweep is 'Session-list reads (sweeps) sent.';
comment on column poll_runs.deferred_final is 'Finalization reads left for the next poll (no budget).';
comment on column poll_runs.deferred_live is 'Active-session reads left for the next poll (no budget).';
comment on column poll_runs.deferred_sweep is 'Sweeps left for the next poll (no budget).';
comment on column poll_runs.listing is
    'How it listed livestreams: filtered (status=LIVE and status=INVOKED, plus its share of the full '
    'listing round), fallback (the API ignored the status filter, so every page was listed); null when it '
    'listed none (reconcile polls, polls before migration 002).';
comment on column poll_runs.budget is
    'The request budget the poll drew on (STREAMLEDGER_BUDGET_NAME, or "token" and a hash of the token): '
    'a new poll counts the recent requests of its own budget. Null before migration 002.';
comment on column poll_runs.planned_list is 'Pages of the full listing round read (see listing_rounds).';
comment on column poll_runs.deferred_list is
    'Listing pages left for a later poll for want of allowance: of the full listing round, and of discovery '
    '(the apps list, the LIVE and INVOKED listings), which draws on the same allowance.';
comment on column poll_runs.clock_skew_seconds is
    'How far the API''s clock was ahead of ours (negative: behind), in seconds: the median of its answers'' '
    'Date header minus the time we received them; null without a Date (or for a poll archived before '
    'migration 004).';
comment on column poll_runs.clock_skewed is
    'True when clock_skew_seconds was further from 0 than STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS (its message '
    'says so; readings are never placed after the moment we received them); null before migration 004.';

comment on table listing_rounds is
    'One row per app per poll that read pages of the app''s full (unfiltered) livestream list. Filtered '
    'polls spread each round over the polls of STREAMLEDGER_FULL_LISTING_INTERVAL_SECONDS; the planner '
    'continues the latest round. Bookkeeping like poll_runs: a rebuild keeps it.';
comment on column listing_rounds.poll_id is 'The poll that read the pages (poll_runs.poll_id).';
comment on column listing_rounds.app_id is 'The app listed.';
comment on column listing_rounds.fetched_at is 'When the poll started, on our clock (UTC).';
comment on column listing_rounds.round_started_at is 'When the round''s first page was read (UTC).';
comment on column listing_rounds.first_page is 'The first page this poll read (page_no, from 1).';
comment on column listing_rounds.last_page is
    'The last page this poll read in order (a failed page ends the poll''s share of the round).';
comment on column listing_rounds.total_count is
    'Livestreams in the list, as its paging said (paging.total_count); null: not said.';
comment on column listing_rounds.complete is 'True when this poll read the round''s last page.';
comment on column listing_rounds.filter_ignored is
    'True when the list answered status=LIVE with other statuses: the poll listed every page instead.';

comment on table livestreams is
    'One row per livestream: its latest observed attributes (a null never erases a known value), and when '
    'the poll planner last read it.';
comment on column livestreams.livestream_id is 'The livestream''s id (the API''s id).';
comment on column livestreams.app_id is
    'The app it belongs to (the app whose list or session call returned it).';
comment on column livestreams.name is 'Its name as last observed (the API''s name); null when it has none.';
comment on column livestreams.meeting_id is
    'The RealtimeKit meeting it streams (the API''s meeting_id); null when it has none.';
comment on column livestreams.status is
    'As last observed: LIVE, IDLE, ERRORED, INVOKED, or another value the API sent.';
comment on column livestreams.disabled is
    'Whether it is disabled (the API''s disabled); null until observed.';
comment on column livestreams.ingest_server is 'The RTMP ingest server (the API''s ingest_server).';
comment on column livestreams.playback_url is 'The HLS playback URL (the API''s playback_url).';
comment on column livestreams.stream_key_fingerprint is
    'sha256:<12 hex> of the API''s stream_key; the key itself is never stored.';
comment on column livestreams.created_at is 'When the API says it was created (its created_at, UTC).';
comment on column livestreams.updated_at is
    'When the API says it last changed (its updated_at, UTC; a change triggers a sweep).';
comment on column livestreams.first_seen_at is
    'When a poll first observed it (that response''s fetched_at, UTC).';
comment on column livestreams.last_seen_at is
    'When a poll last observed it (that response''s fetched_at, UTC).';
comment on column livestreams.last_poll_id is 'The poll that last observed it.';
comment on column livestreams.last_active_read_at is
    'When its active session was last read and answered (fetched_at, UTC); null: never.';
comment on column livestreams.last_swept_at is
    'When its session list was last read (a sweep; fetched_at, UTC); null: never.';
comment on column livestreams.swept_updated_at is 'Its updated_at as of that sweep; null: never swept.';

comment on table sessions is
    'One row per livestream session: its attributes and figures as last observed on the API''s clock (a null '
    'never erases a known value; a stopped session stays stopped), and whether the figures are final (then '
    'those of the confirming read, whatever was read before or after).';
comment on column sessions.session_id is 'The session''s id (the API''s id).';
comment on column sessions.livestream_id is 'The livestream it belongs to.';
comment on column sessions.app_id is 'The app it belongs to.';
comment on column sessions.status is 'The livestream''s status when the session was last seen with it.';
comment on column sessions.created_at is 'When the API says it was created (its created_at, UTC).';
comment on column sessions.updated_at is 'When the API says it last changed (its updated_at, UTC).';
comment on column sessions.invoked_time is
    'When it was invoked (the API''s invoked_time, UTC, on the API''s clock); null until observed.';
comment on column sessions.started_time is
    'When it started streaming (the API''s started_time, UTC, on the API''s clock); null until observed.';
comment on column sessions.stopped_time is
    'When it stopped (the API''s stopped_time, UTC, on the API''s clock); null while running (or not yet '
    'seen).';
comment on column sessions.err_message is
    'The API''s error message for the session (its err_message); null when none.';
comment on column sessions.ingest_seconds is
    'Ingest seconds so far (the API''s ingest_seconds: cumulative, fraction kept), as last read (once '
    'is_final, those of the confirming read); null until read.';
comment on column sessions.viewer_seconds is
    'Viewer seconds so far (the API''s viewer_seconds: cumulative over every viewer, fraction kept), as last '
    'read (once is_final, those of the confirming read); null until read.';
comment on column sessions.first_seen_at is
    'When a poll first observed it (that response''s fetched_at, UTC).';
comment on column sessions.last_seen_at is 'When a poll last observed it (that response''s fetched_at, UTC).';
comment on column sessions.last_poll_id is 'The poll that last observed it.';
comment on column sessions.is_final is
    'True once two consecutive reads after the stop (on the API''s clock, in different polls) reported the '
    'same figures, the later at least STREAMLEDGER_SETTLE_SECONDS after it: they will not change.';
comment on column sessions.finalized_at is
    'When the confirming read was fetched (its fetched_at, UTC); null until final.';
comment on column sessions.last_observed_at is
    'When it was last observed on the API''s clock (Date header, else fetched_at): a running session''s end '
    'in reports.';
comment on column sessions.stop_seen_at is
    'When a snapshot showing its stop was first fetched (our clock, UTC); null while none has: finalization '
    'reads its snapshots from there.';

comment on table session_snapshots is
    'One row per session per poll: the poll''s latest observation of it on the API''s clock. Its readings are '
    'the points of the usage curve (see usage_point_at).';
comment on column session_snapshots.poll_id is 'The poll (poll_runs.poll_id).';
comment on column session_snapshots.fetched_at is 'When the response was received, on our clock (UTC).';
comment on column session_snapshots.session_id is 'The session.';
comment on column session_snapshots.livestream_id is 'Its livestream.';
comment on column session_snapshots.app_id is 'Its app.';
comment on column session_snapshots.endpoint is
    'The call it came from: active_session, session_by_id or livestream_sessions.';
comment on column session_snapshots.status is
    'The livestream''s status in that observation; null when not given.';
comment on column session_snapshots.started_time is
    'The API''s started_time as read (UTC, on the API''s clock); null when not given (or not typed).';
comment on column session_snapshots.stopped_time is
    'The API''s stopped_time as read (UTC, on the API''s clock); null while running.';
comment on column session_snapshots.ingest_seconds is
    'Cumulative ingest seconds as read (the API''s ingest_seconds); null when not given (or not typed).';
comment on column session_snapshots.viewer_seconds is
    'Cumulative viewer seconds as read (the API''s viewer_seconds); null when not given (or not typed).';
comment on column session_snapshots.observed_at is
    'When the reading was taken, on the API''s clock: the response''s Date header, else fetched_at; never '
    'later than fetched_at (a Date ahead of our clock would place usage in hours that have not happened).';

comment on table parse_issues is
    'One row per raw value that could not be typed, or record that could not be read. The typed column '
    'holds null instead; the value as received is here.';
comment on column parse_issues.poll_id is 'The poll.';
comment on column parse_issues.seq is 'The raw_responses row it came from (with poll_id).';
comment on column parse_issues.fetched_at is 'When that response was received, on our clock (UTC).';
comment on column parse_issues.endpoint is 'The call it came from.';
comment on column parse_issues.app_id is 'The app; null for account-level responses (the apps list).';
comment on column parse_issues.livestream_id is 'The livestream, when known.';
comment on column parse_issues.session_id is 'The session, when known.';
comment on column parse_issues.field is 'Which value, e.g. session.viewer_seconds.';
comment on column parse_issues.raw_value is 'The value as received, as text; null when it was missing.';
comment on column parse_issues.reason is 'Why it could not be typed.';

comment on table apps is
    'One row per app of the account seen in the apps list: its latest observed attributes.';
comment on column apps.app_id is 'The app''s id (the API''s id).';
comment on column apps.name is 'Its name as last observed (the API''s name).';
comment on column apps.created_at is 'When the API says it was created (its created_at, UTC).';
comment on column apps.first_seen_at is 'When a poll first observed it (that response''s fetched_at, UTC).';
comment on column apps.last_seen_at is 'When a poll last observed it (that response''s fetched_at, UTC).';
comment on column apps.last_poll_id is 'The poll that last observed it.';

comment on table analytics_daily is
    'One row per app per day: Cloudflare''s own livestream totals (GET /analytics/livestreams/daywise), the '
    'latest read; compared with the warehouse in reconciliation_daily.';
comment on column analytics_daily.app_id is 'The app.';
comment on column analytics_daily.date is 'The day the totals are for, as the API sends it (a UTC day).';
comment on column analytics_daily.count is 'Sessions that day, by Cloudflare''s count (the API''s count).';
comment on column analytics_daily.total_ingest_seconds is
    'Ingest seconds that day, by Cloudflare (the API''s total_ingest_seconds).';
comment on column analytics_daily.total_viewer_seconds is
    'Viewer seconds that day, by Cloudflare (the API''s total_viewer_seconds).';
comment on column analytics_daily.fetched_at is 'When these totals were read, on our clock (UTC).';
comment on column analytics_daily.poll_id is 'The reconcile poll that read them.';

comment on table analytics_overall is
    'One row per app per window read: Cloudflare''s own livestream totals of [start_time, end_time) (GET '
    '/analytics/livestreams/overall), the latest read of that window. The daily reconcile reads each of the '
    'recent calendar months; the monthly export compares its month''s with the warehouse.';
comment on column analytics_overall.app_id is 'The app.';
comment on column analytics_overall.start_time is
    'The start of the window (UTC), as the request''s start_time (Unix seconds) asked for it.';
comment on column analytics_overall.end_time is
    'The end of the window (UTC), as the request''s end_time asked for it (read as excluded: a month''s '
    'window ends at the first instant of the next month).';
comment on column analytics_overall.count is
    'Sessions in the window, by Cloudflare''s count (the schema says "count of total livestreams"; the '
    'daywise count of the same example counts sessions).';
comment on column analytics_overall.total_ingest_seconds is
    'Ingest seconds in the window, by Cloudflare (the API''s total_ingest_seconds: an integer, as it sends '
    'them).';
comment on column analytics_overall.total_viewer_seconds is
    'Viewer seconds in the window, by Cloudflare (the API''s total_viewer_seconds: an integer, as it sends '
    'them).';
comment on column analytics_overall.fetched_at is
    'When these totals were read (our clock, UTC); a read before end_time holds a window still running.';
comment on column analytics_overall.poll_id is 'The reconcile poll that read them.';

comment on table usage_stale is
    'Sessions whose usage must be computed again besides those a batch observed: marked by a reloaded poll '
    'or a migration, emptied by the load that computes them, in its transaction (empty between loads).';
comment on column usage_stale.session_id is 'The session.';
comment on column usage_stale.path is
    'How its usage is computed: full (its whole curve again), append (the new steps only) or none; null '
    'until the load decides.';
comment on column usage_stale.batch_since is
    'Unused, always null: a batch''s own marks, with the polls that made them, are a temporary table of its '
    'load (kept until a migration drops the column).';
comment on column usage_stale.batch_polls is 'Unused, always null (see batch_since).';

comment on table session_usage is
    'One row per session per UTC hour with usage: the ingest and viewer seconds used in that hour, by the '
    'usage rule stated in sql/definitions/06_usage_point_at.sql, exact to the microsecond. Kept up to date by every poll''s load '
    'for the sessions it observed. The source of every finance figure.';
comment on column session_usage.app_id is 'The session''s app.';
comment on column session_usage.livestream_id is 'The session''s livestream.';
comment on column session_usage.session_id is 'The session.';
comment on column session_usage.hour is 'The UTC hour the usage happened in (its start).';
comment on column session_usage.ingest_seconds is 'Ingest seconds used in that hour (never negative).';
comment on column session_usage.viewer_seconds is 'Viewer seconds used in that hour (never negative).';

comment on table raw_archive is
    'One row per UTC day of raw responses moved by `streamledger archive` to its Parquet file (a poll '
    'belongs to the UTC day of its first response); rebuild reads these files.';
comment on column raw_archive.day is 'The UTC day.';
comment on column raw_archive.polls is 'Polls in the file.';
comment on column raw_archive.responses is 'raw_responses rows in the file.';
comment on column raw_archive.bytes is 'Size of the file in bytes.';
comment on column raw_archive.sha256 is 'sha256 of the file''s bytes, hex.';
comment on column raw_archive.file is 'Path of the file relative to the archive folder.';
comment on column raw_archive.first_poll_id is 'The first poll in the file.';
comment on column raw_archive.last_poll_id is 'The last poll in the file.';
comment on column raw_archive.archived_at is 'When the day was archived (UTC).';

comment on table session_usage_state is
    'One row per started session with a usage curve: the last point of its curve and what the curve was '
    'computed from, kept by the load in the same transaction, so that a poll computes only the steps its '
    'new readings add.';
comment on column session_usage_state.session_id is 'The session.';
comment on column session_usage_state.started_time is 'The start the curve begins at (UTC).';
comment on column session_usage_state.stopped_time is 'The stop the readings were clamped to (UTC); null: running.';
comment on column session_usage_state.is_final is 'Whether the curve ends at the final figures.';
comment on column session_usage_state.final_ingest is 'The final ingest seconds it is capped at; null unless final.';
comment on column session_usage_state.final_viewer is 'The final viewer seconds it is capped at; null unless final.';
comment on column session_usage_state.point_at is 'The last point''s place on the curve (UTC).';
comment on column session_usage_state.ord is 'The last point''s kind: 0 start, 1 reading, 2 stop.';
comment on column session_usage_state.observed_at is 'When the last point was observed (API clock, UTC).';
comment on column session_usage_state.poll_id is 'The poll of the last point (empty for a start or stop).';
comment on column session_usage_state.curve_ingest is
    'The curve''s ingest seconds at the last point: their running maximum, capped at the final figure once final.';
comment on column session_usage_state.curve_viewer is
    'The curve''s viewer seconds at the last point: their running maximum, capped at the final figure once final.';
comment on column session_usage_state.first_hour is 'Its earliest hour in session_usage; null without usage.';

comment on table schema_migrations is
    'One row per numbered migration applied to this database (sql/migrations).';
comment on column schema_migrations.version is 'The migration''s number.';
comment on column schema_migrations.name is 'Its file name.';
comment on column schema_migrations.checksum is
    'sha256 of the file as applied, hex; a changed file is refused.';
comment on column schema_migrations.applied_at is 'When it was applied (UTC).';

comment on table schema_definitions is
    'One row: the views, macros and comments (sql/definitions) this database has, by checksum; they are '
    'applied again when the files differ.';
comment on column schema_definitions.checksum is
    'sha256 of every definition file, names and texts in order, hex.';
comment on column schema_definitions.applied_at is 'When they were applied (UTC).';
