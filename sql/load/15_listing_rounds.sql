-- The pages of each app's full livestream listing this poll read, after its ledger row in the same
-- transaction. Reads: staged_listing_rounds.
insert into listing_rounds (
    poll_id, app_id, fetched_at, round_started_at, first_page, last_page, total_count, complete,
    filter_ignored
)
select
    poll_id, app_id, fetched_at, round_started_at, first_page, last_page, total_count, complete,
    filter_ignored
from staged_listing_rounds;
