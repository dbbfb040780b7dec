-- Which snapshots are readings of the usage rule (stated in sql/definitions/06_usage_point_at.sql).
create or replace macro usage_is_reading(ingest_seconds, viewer_seconds, observed_at, started_time) as
    ingest_seconds is not null
    and viewer_seconds is not null
    and observed_at >= started_time - interval 1 day
    and not (
        ingest_seconds = 60 and viewer_seconds = 60
        and observed_at < started_time + interval 90 second
    );

comment on macro usage_is_reading is
    'Whether a snapshot is a reading of the usage rule: both figures known and not the API''s placeholder '
    '(both exactly 60 within 90 s of the start), observed at most a day before the start.';
