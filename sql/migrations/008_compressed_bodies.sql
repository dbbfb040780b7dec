-- 008: raw_responses.body compressed with zstd.
-- DuckDB left the bodies uncompressed (about 2,000 bytes on disk per raw response, 609 MB a day for 200
-- streams polled every minute), and every checkpoint held the table's last row group of them in memory.
-- zstd keeps them as they are, byte for byte, in about a fifth of the space.
create table raw_responses_008 (
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

insert into raw_responses_008 select * from raw_responses order by poll_id, seq;

drop table raw_responses;

alter table raw_responses_008 rename to raw_responses;
