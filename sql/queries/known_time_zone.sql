-- One row: whether DuckDB knows the IANA time zone in the variable tz (a report checks it before it runs).
-- Parameters: tz.
select count(*) > 0 as known
from pg_timezone_names()
where name = getvariable('tz');
