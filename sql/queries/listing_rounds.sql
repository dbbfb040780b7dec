-- One row per app: the latest round of its full livestream listing, and how many snapshot polls have run
-- since that round started (the round is spread over the polls of one full-listing interval).
-- Rounds not continued for a day are forgotten: the next poll starts a new one. No parameters.
with latest as (
    select app_id, round_started_at, last_page, total_count, complete
    from listing_rounds
    where fetched_at > now() - interval 1 day
    qualify row_number() over (partition by app_id order by fetched_at desc, poll_id desc) = 1
)

select
    l.app_id,
    l.round_started_at,
    l.last_page,
    l.total_count,
    l.complete,
    (
        select count(*)
        from poll_runs as p
        where p.kind = 'snapshot' and p.started_at >= l.round_started_at
    ) as polls_since_start
from latest as l
order by l.app_id;
