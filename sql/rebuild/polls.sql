-- Rebuild only: one row per poll to replay, with its number of raw responses and where its rows are (file
-- null: raw_responses). Starts with the polls raw_responses holds; archived_polls.sql adds each archive
-- file's.
create or replace temp table rebuild_polls as
select poll_id, count(*) as responses, null::varchar as file
from raw_responses
group by poll_id;
