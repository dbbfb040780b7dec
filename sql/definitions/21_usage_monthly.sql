-- One row per app per UTC month: usage that happened in that month (from session_usage).
create or replace view usage_monthly as
select
    app_id,
    cast(date_trunc('month', hour) as date) as month,
    count(distinct session_id) as sessions,
    sum(ingest_seconds) as ingest_seconds,
    sum(viewer_seconds) as viewer_seconds
from session_usage
group by all;

comment on view usage_monthly is
    'One row per app per UTC month (its first day): sessions with usage, and the ingest and viewer seconds '
    'used that month (a session across a month end is split; from session_usage).';
comment on column usage_monthly.app_id is 'The app.';
comment on column usage_monthly.month is 'The UTC month the usage happened in, as its first day.';
comment on column usage_monthly.sessions is 'Sessions with usage that month.';
comment on column usage_monthly.ingest_seconds is
    'Ingest seconds used that month: the sum of its hours in session_usage.';
comment on column usage_monthly.viewer_seconds is
    'Viewer seconds used that month: the sum of its hours in session_usage.';
