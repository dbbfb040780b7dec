-- report_to_date(): the last local day of the report's period, inclusive (variable to_date; default today
-- in report_tz()).
create or replace macro report_to_date() as
    coalesce(getvariable('to_date')::date, timezone(report_tz(), now())::date);

comment on macro report_to_date is
    'The last local day of the report''s period, inclusive: the variable to_date, default today in '
    'report_tz().';
