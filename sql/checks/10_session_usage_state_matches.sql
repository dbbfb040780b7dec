-- session_usage_state records, for exactly the sessions with usage, the earliest hour of their usage.
--
-- A poll replaces a session's usage looking for its old rows only from the first hour its state records,
-- so that it reads the recent end of session_usage and not the whole history. If that hour is later than
-- the session's real first hour, the refresh leaves older rows beside the new ones and its usage is
-- counted twice; a session with usage but no state would be computed from nothing. One row per session
-- where the two disagree: the first hour recorded and the first hour of its usage.
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
    from session_usage_state as s
    full outer join usage_start as u on u.session_id = s.session_id
)

select * from final
where recorded_first_hour is distinct from first_usage_hour
order by session_id;
