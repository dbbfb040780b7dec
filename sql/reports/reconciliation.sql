-- Reconciliation: Cloudflare's daywise totals beside the warehouse's for each day of a period.
-- Grain: one row per app per UTC day (the API's daywise days; tz does not apply).
-- Parameters: from_date (UTC date, inclusive; default: first day of this month), to_date (UTC date, inclusive; default: today)
-- Units: seconds and percent (warehouse minus Cloudflare). all_final is false while a session of the day may still grow.
select
    app_id,
    day,
    cloudflare_sessions,
    warehouse_sessions,
    round(ingest_difference_seconds, 3) as ingest_difference_seconds,
    round(ingest_difference_percent, 3) as ingest_difference_percent,
    round(viewer_difference_seconds, 3) as viewer_difference_seconds,
    round(viewer_difference_percent, 3) as viewer_difference_percent,
    all_final
from reconciliation_daily
where day >= report_from_date() and day <= report_to_date()
order by day desc, app_id;
