-- Rebuild only: the polls to replay, in the order they ran (poll ids sort by start time).
select poll_id, responses, file
from rebuild_polls
order by poll_id;
