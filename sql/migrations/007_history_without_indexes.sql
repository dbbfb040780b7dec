-- 007: raw_responses and session_snapshots without primary-key indexes, and raw_responses.body in zstd.
-- Both only grow, in poll order. Their ART indexes made every poll's commit and checkpoint rewrite an
-- index as large as the history (a poll of 200 sessions closed in 40 ms at 10 M snapshot rows, 12 ms at
-- 1 M, 9 ms without the index), and a large history's index had to fit in memory. Loading stays
-- idempotent without them: load/01_clear_poll.sql deletes a poll's rows before they are written again, and
-- poll ids sort by time, so DuckDB's min/max zone maps find a poll's rows without an index.
-- DuckDB left the bodies uncompressed (about 2,000 bytes on disk per raw response, 984 MB a day for 200
-- streams polled every minute), and every checkpoint held the table's last row group of them in memory.
-- zstd keeps them as they are, byte for byte, in about a seventeenth of the space. Both changes are made in
-- one copy of raw_responses, the largest table.
create table raw_responses_007 (
    poll_id       varchar   not null,
    seq           integer   not null,
    fetched_at    timestamptz not null,
    endpoint      varchar   not null,
    app_id        varchar,
    livestream_id varchar,
    session_id    varchar,
    request_path  varchar   not null,
    attempt       smallint  not null,
    http_status   smallint,
    elapsed_ms    double,
    ratelimit     varchar,
    outcome       varchar   not null,
    body          varchar using compression zstd,
    error         varchar,
    server_date   timestamptz
);

insert into raw_responses_007 select * from raw_responses order by poll_id, seq;

drop table raw_responses;

alter table raw_responses_007 rename to raw_responses;

create table session_snapshots_007 (
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
    observed_at    timestamptz
);

insert into session_snapshots_007 select * from session_snapshots order by poll_id, session_id;

drop table session_snapshots;

alter table session_snapshots_007 rename to session_snapshots;
