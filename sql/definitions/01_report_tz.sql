-- A report's period comes from session variables, so that a report file runs unchanged in the duckdb CLI:
--   set variable from_date = date '2026-10-01'; set variable to_date = date '2026-10-31';
--   set variable tz = 'Europe/Paris';
-- from_date and to_date are local dates in tz, both inclusive. Unset: this month to date, in UTC.
-- report_tz(): the IANA time zone of the report's days and hours (variable tz; default UTC).
create or replace macro report_tz() as coalesce(getvariable('tz')::varchar, 'UTC');

comment on macro report_tz is 'The report''s IANA time zone: the variable tz, default UTC.';
