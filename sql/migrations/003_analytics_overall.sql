-- 003: Cloudflare's overall livestream totals of a window (GET /analytics/livestreams/overall), the monthly
-- export's cross-check. One row per app per window read, the latest read of it; the raw answers stay in
-- raw_responses, as every poll's do. (002 is another change's number.)
create table analytics_overall (
    app_id               varchar     not null,
    start_time           timestamptz not null,
    end_time             timestamptz not null,
    count                bigint,
    total_ingest_seconds double,
    total_viewer_seconds double,
    fetched_at           timestamptz not null,
    poll_id              varchar     not null,
    primary key (app_id, start_time, end_time)
);
