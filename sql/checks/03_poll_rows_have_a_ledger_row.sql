-- Rows of a poll exist only with its ledger row: no raw response, snapshot or parse issue of an unknown poll.
--
-- A poll is loaded in one transaction that writes its ledger row (poll_runs) last, so a poll is in the
-- warehouse exactly when its ledger row is. Rows of a poll without one are a half-loaded poll: a crash or a
-- writer outside the load left them, the poll's landing file may have been forgotten as loaded, and its
-- figures would be counted without the poll ever having been recorded.
-- One row per table and poll_id that has rows but no poll_runs row, with how many rows.
with orphans as (
    select 'raw_responses' as table_name, poll_id, count(*) as rows
    from raw_responses
    where poll_id not in (select poll_id from poll_runs)
    group by poll_id
    union all
    select 'session_snapshots' as table_name, poll_id, count(*) as rows
    from session_snapshots
    where poll_id not in (select poll_id from poll_runs)
    group by poll_id
    union all
    select 'parse_issues' as table_name, poll_id, count(*) as rows
    from parse_issues
    where poll_id not in (select poll_id from poll_runs)
    group by poll_id
)

select table_name, poll_id, rows
from orphans
order by table_name, poll_id;
