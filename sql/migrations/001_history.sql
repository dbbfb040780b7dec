-- 001: the session history tables. Grain of each table is stated above it.
-- All instants are TIMESTAMPTZ in UTC; seconds are DOUBLE (the API's JSON numbers, fraction kept).

-- One row per HTTP response received (retried ones too), body as received with secrets redacted.
create table raw_responses (
    poll_id       varchar   not null,
    seq           integer   not null,   -- order of receipt within the poll
    fetched_at    timestamptz not null,
    endpoint      varchar   not null,   -- list_livestreams | active_session | session_by_id
    app_id        varchar   not null,
    livestream_id varchar,
    session_id    varchar,
    request_path  varchar   not null,   -- the full request URL (never carries the token)
    attempt       smallint  not null,
    http_status   smallint,             -- null when the request got no response (connection error, timeout)
    elapsed_ms    double,
    ratelimit     varchar,              -- the Ratelimit response header as received
    outcome       varchar   not null,   -- data | none (no active session) | retry | error
    body          varchar,              -- as received; stream keys replaced by their fingerprint
    error         varchar,              -- why a retry or error response failed, one line
    primary key (poll_id, seq)
);

-- One row per poll.
create table poll_runs (
    poll_id           varchar primary key,
    started_at        timestamptz not null,
    finished_at       timestamptz not null,
    app_ids           varchar[]   not null,
    livestreams       integer not null,  -- distinct livestreams observed
    active_reads      integer not null,  -- active-session reads planned
    sessions          integer not null,  -- distinct sessions observed
    requests          integer not null,  -- HTTP requests sent (every attempt)
    responses         integer not null,  -- HTTP responses received
    retries           integer not null,
    rate_limited      integer not null,  -- 429 answers
    transport_errors  integer not null,  -- connection errors and timeouts
    failed_calls      integer not null,  -- calls that still failed after retries
    parse_issues      integer not null,
    unknown_statuses  integer not null,  -- observations with a status outside LIVE/IDLE/ERRORED/INVOKED
    outcome           varchar not null,  -- ok | partial | failed
    message           varchar,           -- the failures, one per line
    network_seconds   double  not null,
    normalize_seconds double  not null,
    load_seconds      double  not null,
    recovered         boolean not null   -- loaded from a landing file left by an interrupted run
);

-- One row per livestream: its latest observed attributes.
create table livestreams (
    livestream_id          varchar primary key,
    app_id                 varchar not null,
    name                   varchar,
    meeting_id             varchar,
    status                 varchar,
    disabled               boolean,
    ingest_server          varchar,
    playback_url           varchar,
    stream_key_fingerprint varchar,      -- sha256:<12 hex>; the key itself is never stored
    created_at             timestamptz,
    updated_at             timestamptz,
    first_seen_at          timestamptz not null,
    last_seen_at           timestamptz not null,
    last_poll_id           varchar not null
);

-- One row per livestream session: its latest observed attributes and figures.
create table sessions (
    session_id     varchar primary key,
    livestream_id  varchar not null,
    app_id         varchar not null,
    status         varchar,              -- the livestream's status when the session was last seen with it
    created_at     timestamptz,
    updated_at     timestamptz,
    invoked_time   timestamptz,
    started_time   timestamptz,
    stopped_time   timestamptz,
    err_message    varchar,
    ingest_seconds double,
    viewer_seconds double,
    first_seen_at  timestamptz not null,
    last_seen_at   timestamptz not null,
    last_poll_id   varchar not null
);

-- One row per session per poll.
create table session_snapshots (
    poll_id        varchar not null,
    fetched_at     timestamptz not null,
    session_id     varchar not null,
    livestream_id  varchar not null,
    app_id         varchar not null,
    endpoint       varchar not null,
    status         varchar,
    started_time   timestamptz,
    stopped_time   timestamptz,
    ingest_seconds double,
    viewer_seconds double,
    primary key (poll_id, session_id)
);

-- One row per raw value that could not be typed (or record that could not be read).
create table parse_issues (
    poll_id       varchar not null,
    seq           integer not null,     -- the raw_responses row it came from
    fetched_at    timestamptz not null,
    endpoint      varchar not null,
    app_id        varchar not null,
    livestream_id varchar,
    session_id    varchar,
    field         varchar not null,     -- e.g. session.viewer_seconds
    raw_value     varchar,
    reason        varchar not null
);
