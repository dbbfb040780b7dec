-- One row per app per UTC day: usage that happened in that day (from session_usage).
create or replace view usage_daily as
select
    app_id,
    cast(hour as date) as day,
    count(distinct session_id) as sessions,
    sum(ingest_seconds) as ingest_seconds,
    sum(viewer_seconds) as viewer_seconds
from session_usage
group by all;

comment on view usage_daily is
    'One row per app per UTC day: sessions with usage, and the ingest and viewer seconds used that day (a '
    'session across midnight is split; from session_usage).';
comment on column usage_daily.app_id is 'The app.';
comment on column usage_daily.day is 'The UTC day the usage happened in.';
comment on column usage_daily.sessions is 'Sessions with usage that day.';
comment on column usage_daily.ingest_seconds is
    'Ingest seconds used that day: the sum of its hours in session_usage.';
comment on column usage_daily.viewer_seconds is
    'Viewer seconds used that day: the sum of its hours in session_usage.';
