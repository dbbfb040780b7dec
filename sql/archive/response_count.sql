-- One row: how many raw responses the database holds (counted before and after a day's file is put back).
-- No parameters.
select count(*) as responses
from raw_responses;
