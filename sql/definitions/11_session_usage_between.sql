-- One row per session per UTC hour in [period_start, period_end) (an hour belongs to the period when it
-- starts inside it): the reports' way to read session_usage for a period.
create or replace macro session_usage_between(period_start, period_end) as table
select *
from session_usage
where hour >= period_start and hour < period_end;

comment on macro table session_usage_between is
    'session_usage for the UTC hours that start in [period_start, period_end): one row per session per hour.';
