-- Reconciliation: Cloudflare's daywise totals beside the warehouse's for each day of a period, with the tolerance and the verdict.
-- Grain: one row per app per UTC day (the API's daywise days; tz does not apply).
-- Parameter from_date [UTC date, inclusive] = first day of this month in UTC
-- Parameter to_date [UTC date, inclusive] = today in UTC
-- Columns: app_id [id], day [UTC date], cloudflare_sessions [count], warehouse_sessions [count],
-- Columns: ingest_difference_seconds [seconds], ingest_difference_percent [percent],
-- Columns: viewer_difference_seconds [seconds], viewer_difference_percent [percent],
-- Columns: tolerance_seconds [seconds], verdict [text], verdict_reason [text], all_final [yes/no]
-- Units: seconds and percent (warehouse minus Cloudflare). Cloudflare sends integer totals of fractional figures, so a day agrees when the session counts are equal and both differences are within tolerance_seconds = the day's sessions + 1 (any rounding per session and once more of the sum stays within it; see reconciliation_daily). verdict is agrees, differs, or not final (not read, read before the day was over or before its last session was final, or a session not final yet); verdict_reason says why it is not agrees.
select
    app_id,
    day,
    cloudflare_sessions,
    warehouse_sessions,
    round(ingest_difference_seconds, 3) as ingest_difference_seconds,
    round(ingest_difference_percent, 3) as ingest_difference_percent,
    round(viewer_difference_seconds, 3) as viewer_difference_seconds,
    round(viewer_difference_percent, 3) as viewer_difference_percent,
    tolerance_seconds,
    verdict,
    verdict_reason,
    all_final
from reconciliation_daily
where day >= report_from_date() and day <= report_to_date()
order by day desc, app_id;
