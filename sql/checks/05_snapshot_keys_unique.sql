-- session_snapshots holds each session at most once per poll.
--
-- A snapshot is the poll's latest observation of a session (sql/load/04_session_snapshots.sql keeps one per
-- session even when a poll read it twice, e.g. by its active session and by id). The table has no primary
-- key, for the reason raw_responses has none. Two snapshots of one session in one poll would be two points
-- of its usage curve at nearly the same instant and two reads for finalization from a single poll, which
-- must come from two different polls.
-- One row per (poll_id, session_id) held more than once, with how many times.
select poll_id, session_id, count(*) as copies
from session_snapshots
group by poll_id, session_id
having count(*) > 1
order by poll_id, session_id;
