-- raw_responses holds each (poll_id, seq) once.
--
-- seq numbers a poll's requests in the order they were received, so (poll_id, seq) names one request. The
-- table has no primary key (an index as large as the history made every commit rewrite it), so nothing
-- but the load's own clear-then-insert (sql/load/01_clear_poll.sql) keeps a poll loaded twice from being
-- stored twice. A duplicate would be counted twice by every figure read from raw_responses, and the archive
-- refuses to move a day that holds one.
-- One row per (poll_id, seq) held more than once, with how many times.
select poll_id, seq, count(*) as copies
from raw_responses
group by poll_id, seq
having count(*) > 1
order by poll_id, seq;
