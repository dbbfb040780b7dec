-- Why Cloudflare's integer totals and the warehouse's figures differ beyond what rounding explains, or null
-- when they agree: the session counts differ, or a difference in seconds exceeds tolerance_seconds
-- (reconciliation_tolerance). The rule of reconciliation_daily and of the export's cross-check, in one place.
create or replace macro reconciliation_difference(
    warehouse_sessions,
    cloudflare_sessions,
    ingest_difference_seconds,
    viewer_difference_seconds,
    tolerance_seconds
) as nullif(
    concat_ws(
        '; ',
        case
            when coalesce(warehouse_sessions, 0) <> coalesce(cloudflare_sessions, 0) then 'session counts differ'
        end,
        case
            when abs(ingest_difference_seconds) > tolerance_seconds
                then 'ingest seconds differ by more than the tolerance'
        end,
        case
            when abs(viewer_difference_seconds) > tolerance_seconds
                then 'viewer seconds differ by more than the tolerance'
        end
    ),
    ''
);

comment on macro reconciliation_difference is
    'Why Cloudflare''s totals and the warehouse''s differ (session counts, or seconds beyond the tolerance), '
    'or null when they agree; used by reconciliation_daily and the export cross-check.';
