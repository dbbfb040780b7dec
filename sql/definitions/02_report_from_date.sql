-- report_from_date(): the first local day of the report's period, inclusive (variable from_date; default
-- the first day of this month in report_tz()).
create or replace macro report_from_date() as
    coalesce(getvariable('from_date')::date, date_trunc('month', timezone(report_tz(), now()))::date);

comment on macro report_from_date is
    'The first local day of the report''s period, inclusive: the variable from_date, default the first day '
    'of this month in report_tz().';
