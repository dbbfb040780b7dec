-- One row per livestream with usage in [period_start, period_end): the seconds used in that period.
create or replace macro livestream_usage_between(period_start, period_end) as table
select
    livestream_id,
    sum(viewer_seconds) as viewer_seconds,
    sum(ingest_seconds) as ingest_seconds
from session_usage_between(period_start, period_end)
group by livestream_id;

comment on macro table livestream_usage_between is
    'One row per livestream with usage in [period_start, period_end): the viewer and ingest seconds used '
    'in that period.';
