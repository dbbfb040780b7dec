-- report_start(): the instant the report's period starts, the local midnight that begins report_from_date()
-- in report_tz(). The period is [report_start(), report_end()).
create or replace macro report_start() as timezone(report_tz(), report_from_date()::timestamp);

comment on macro report_start is
    'The instant the report''s period starts (inclusive): local midnight of report_from_date() in '
    'report_tz().';
