-- session_usage_start holds, for exactly the sessions with usage, the earliest hour of their usage.
--
-- Each poll replaces the usage of the sessions it observed, looking for their old rows only from the
-- earliest hour session_usage_start holds for them, so that it reads the recent end of session_usage and
-- not the whole history. If a session's first hour there is later than its real first hour, the refresh
-- leaves its older rows in place beside the new ones and its usage is counted twice; a session missing
-- there keeps stale rows; a row for a session without usage is harmless but means the two tables drifted.
-- One row per session where the two disagree: the first hour recorded and the first hour of its usage.
with usage_start as (
    select session_id, min(hour) as first_usage_hour
    from session_usage
    group by session_id
),

final as (
    select
        coalesce(s.session_id, u.session_id) as session_id,
        s.first_hour as recorded_first_hour,
        u.first_usage_hour
    from session_usage_start as s
    full outer join usage_start as u on u.session_id = s.session_id
)

select * from final
where recorded_first_hour is distinct from first_usage_hour
order by session_id;
