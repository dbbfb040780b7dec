-- 004: each poll's clock skew (issue 13): how far the API's Date header was from our clock, and whether it
-- was further than STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS. Polls loaded before get their skew from the raw
-- responses still in the database (an archived poll keeps null); their flag stays null: the threshold they
-- would have been held to is not known.

alter table poll_runs add column clock_skew_seconds double;
alter table poll_runs add column clock_skewed boolean;

update poll_runs as p
set clock_skew_seconds = s.skew
from (
    select poll_id, median(epoch(server_date) - epoch(fetched_at)) as skew
    from raw_responses
    where server_date is not null
    group by poll_id
) as s
where p.poll_id = s.poll_id;
