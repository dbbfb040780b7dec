-- The ledger's counts of each replayed poll, recounted from what the replay's normalization made of it.
--
-- poll_runs keeps, per poll, the livestreams and sessions it observed, its parse issues and its unknown
-- statuses, counted from the normalized frames when the poll was loaded. A rebuild re-derives the frames,
-- maybe with a changed normalization (the reason to rebuild), so it writes the counts again: the ledger
-- keeps describing the rows (sql/checks/04_poll_counts_match_rows.sql). Everything else of the ledger row
-- is what happened on the network, which a replay cannot change. Reads: staged_poll_counts (one row per
-- poll of the chunk, from NormalizedPoll.counts()).
update poll_runs as p
set
    livestreams = c.livestreams,
    sessions = c.sessions,
    parse_issues = c.parse_issues,
    unknown_statuses = c.unknown_statuses
from staged_poll_counts as c
where p.poll_id = c.poll_id;
