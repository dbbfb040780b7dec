-- 001: the baseline. Every table of the warehouse, tables only: views and macros are definitions
-- (sql/definitions/, applied on every read-write open), and the meaning of each table and column is in
-- the warehouse's own comments (sql/definitions/00_table_comments.sql). Later changes to a table are new
-- numbered migrations, applied once and recorded in schema_migrations.
-- All instants are TIMESTAMPTZ in UTC; seconds are DOUBLE (the API's JSON numbers, fraction kept).

-- One row per HTTP request sent (every attempt, retried ones and transport errors too). No primary key:
-- the table only grows, in poll order, and an index as large as the history made every commit and
-- checkpoint rewrite it; load/01_clear_poll.sql keeps loading idempotent and zone maps find a poll's rows.
-- Bodies are compressed with zstd (about a seventeenth of their size), byte for byte as received.
create table raw_responses (
    poll_id       varchar     not null,
    seq           integer     not null,
    fetched_at    timestamptz not null,
    endpoint      varchar     not null,
    app_id        varchar,
    livestream_id varchar,
    session_id    varchar,
    request_path  varchar     not null,
    attempt       smallint    not null,
    http_status   smallint,
    elapsed_ms    double,
    ratelimit     varchar,
    outcome       varchar     not null,
    body          varchar     using compression zstd,
    error         varchar,
    server_date   timestamptz
);

-- One row per poll: its ledger row, written in the same transaction as its data.
create table poll_runs (
    poll_id            varchar     primary key,
    started_at         timestamptz not null,
    finished_at        timestamptz not null,
    app_ids            varchar[]   not null,
    livestreams        integer     not null,
    active_reads       integer     not null,
    sessions           integer     not null,
    requests           integer     not null,
    responses          integer     not null,
    retries            integer     not null,
    rate_limited       integer     not null,
    transport_errors   integer     not null,
    failed_calls       integer     not null,
    parse_issues       integer     not null,
    unknown_statuses   integer     not null,
    outcome            varchar     not null,
    message            varchar,
    network_seconds    double      not null,
    normalize_seconds  double      not null,
    load_seconds       double      not null,
    recovered          boolean     not null,
    kind               varchar     default 'snapshot',
    allowance          integer     default 0,
    discovery_requests integer     default 0,
    planned_final      integer     default 0,
    planned_live       integer     default 0,
    planned_sweep      integer     default 0,
    deferred_final     integer     default 0,
    deferred_live      integer     default 0,
    deferred_sweep     integer     default 0
);

-- One row per livestream: its latest observed attributes, and what the poll planner knows of it.
create table livestreams (
    livestream_id          varchar     primary key,
    app_id                 varchar     not null,
    name                   varchar,
    meeting_id             varchar,
    status                 varchar,
    disabled               boolean,
    ingest_server          varchar,
    playback_url           varchar,
    stream_key_fingerprint varchar,
    created_at             timestamptz,
    updated_at             timestamptz,
    first_seen_at          timestamptz not null,
    last_seen_at           timestamptz not null,
    last_poll_id           varchar     not null,
    last_active_read_at    timestamptz,
    last_swept_at          timestamptz,
    swept_updated_at       timestamptz
);

-- One row per livestream session: its latest observed attributes and figures, and whether they are final.
create table sessions (
    session_id       varchar     primary key,
    livestream_id    varchar     not null,
    app_id           varchar     not null,
    status           varchar,
    created_at       timestamptz,
    updated_at       timestamptz,
    invoked_time     timestamptz,
    started_time     timestamptz,
    stopped_time     timestamptz,
    err_message      varchar,
    ingest_seconds   double,
    viewer_seconds   double,
    first_seen_at    timestamptz not null,
    last_seen_at     timestamptz not null,
    last_poll_id     varchar     not null,
    is_final         boolean     default false,
    finalized_at     timestamptz,
    last_observed_at timestamptz
);

-- One row per session per poll (no primary key, for the reason raw_responses has none).
create table session_snapshots (
    poll_id        varchar     not null,
    fetched_at     timestamptz not null,
    session_id     varchar     not null,
    livestream_id  varchar     not null,
    app_id         varchar     not null,
    endpoint       varchar     not null,
    status         varchar,
    started_time   timestamptz,
    stopped_time   timestamptz,
    ingest_seconds double,
    viewer_seconds double,
    observed_at    timestamptz
);

-- One row per raw value that could not be typed (or record that could not be read).
create table parse_issues (
    poll_id       varchar     not null,
    seq           integer     not null,
    fetched_at    timestamptz not null,
    endpoint      varchar     not null,
    app_id        varchar,
    livestream_id varchar,
    session_id    varchar,
    field         varchar     not null,
    raw_value     varchar,
    reason        varchar     not null
);

-- One row per app of the account.
create table apps (
    app_id        varchar     primary key,
    name          varchar,
    created_at    timestamptz,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null,
    last_poll_id  varchar     not null
);

-- One row per app per day: Cloudflare's own livestream totals (GET /analytics/livestreams/daywise).
create table analytics_daily (
    app_id               varchar     not null,
    date                 date        not null,
    count                bigint,
    total_ingest_seconds double,
    total_viewer_seconds double,
    fetched_at           timestamptz not null,
    poll_id              varchar     not null,
    primary key (app_id, date)
);

-- Sessions whose usage must be computed again: filled and emptied inside one load transaction.
create table usage_stale (session_id varchar primary key);

-- One row per session per UTC hour with usage, computed by the load with stale_session_usage.
create table session_usage (
    app_id         varchar     not null,
    livestream_id  varchar     not null,
    session_id     varchar     not null,
    hour           timestamptz not null,
    ingest_seconds double      not null,
    viewer_seconds double      not null,
    primary key (session_id, hour)
);

-- One row per archived UTC day of raw responses.
create table raw_archive (
    day           date        primary key,
    polls         integer     not null,
    responses     bigint      not null,
    bytes         bigint      not null,
    sha256        varchar     not null,
    file          varchar     not null,
    first_poll_id varchar     not null,
    last_poll_id  varchar     not null,
    archived_at   timestamptz not null
);

-- One row per session with rows in session_usage: the earliest hour among them.
create table session_usage_start (
    session_id varchar     primary key,
    first_hour timestamptz not null
);
