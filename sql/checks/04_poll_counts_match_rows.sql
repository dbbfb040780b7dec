-- A poll's ledger row counts its rows: sessions = its session_snapshots rows, parse_issues = its issues.
--
-- poll_runs.sessions is the number of distinct sessions the poll observed, and session_snapshots holds one
-- row per session per poll; poll_runs.parse_issues is the number of values the poll could not type, each a
-- row of parse_issues. The ledger row is written in the same transaction as those rows, so they agree; if
-- they do not, the poll is half loaded (or its rows were changed outside a load), and the poll-health and
-- data-quality reports, which read the ledger, no longer describe the data.
-- One row per poll that disagrees: the ledger's counts beside the rows found.
with snapshots as (
    select poll_id, count(*) as snapshot_rows
    from session_snapshots
    group by poll_id
),

issues as (
    select poll_id, count(*) as issue_rows
    from parse_issues
    group by poll_id
),

final as (
    select
        p.poll_id,
        p.sessions,
        coalesce(s.snapshot_rows, 0) as snapshot_rows,
        p.parse_issues,
        coalesce(i.issue_rows, 0) as issue_rows
    from poll_runs as p
    left join snapshots as s on s.poll_id = p.poll_id
    left join issues as i on i.poll_id = p.poll_id
)

select * from final
where sessions <> snapshot_rows or parse_issues <> issue_rows
order by poll_id;
