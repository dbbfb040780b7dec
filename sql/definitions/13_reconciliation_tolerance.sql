-- How far, in seconds, Cloudflare's integer totals may lie from the warehouse's fractional figures of the
-- same sessions: the larger session count + 1 (see 22_reconciliation_daily.sql for why any rounding stays
-- inside it). The rule of reconciliation_daily and of the export's monthly cross-check, in one place.
create or replace macro reconciliation_tolerance(warehouse_sessions, cloudflare_sessions) as
    greatest(coalesce(warehouse_sessions, 0), coalesce(cloudflare_sessions, 0)) + 1;

comment on macro reconciliation_tolerance is
    'The seconds Cloudflare''s integer totals may lie from the warehouse''s figures: the larger session '
    'count + 1; used by reconciliation_daily and the export cross-check.';
