-- report_end(): the instant the report's period ends, exclusive: the local midnight after report_to_date()
-- in report_tz().
create or replace macro report_end() as timezone(report_tz(), (report_to_date() + 1)::timestamp);

comment on macro report_end is
    'The instant the report''s period ends (exclusive): local midnight after report_to_date() in '
    'report_tz().';
