-- 005: the raw-response archive. `streamledger archive` moves the raw responses of every UTC day older
-- than the retention to one compressed Parquet file per day and deletes them from raw_responses; this
-- table records each day's file, so that `rebuild` knows which files it must read.

-- One row per archived UTC day (a poll belongs to the UTC day of its first response).
create table raw_archive (
    day           date        primary key,
    polls         integer     not null,   -- polls in the file
    responses     bigint      not null,   -- raw_responses rows in the file
    bytes         bigint      not null,   -- size of the file
    sha256        varchar     not null,   -- of the file's bytes
    file          varchar     not null,   -- path relative to the archive folder
    first_poll_id varchar     not null,
    last_poll_id  varchar     not null,
    archived_at   timestamptz not null
);
