-- One row per app per day: Cloudflare's daywise totals beside the warehouse's, newest day first.
-- No parameters.
select
    app_id,
    day,
    cloudflare_sessions,
    warehouse_sessions,
    round(ingest_difference_seconds, 3) as ingest_diff_s,
    round(viewer_difference_seconds, 3) as viewer_diff_s,
    round(viewer_difference_percent, 3) as viewer_diff_pct,
    all_final
from reconciliation_daily
order by day desc, app_id;
