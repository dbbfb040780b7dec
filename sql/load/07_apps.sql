-- Upsert one row per app from the batch's apps-list observations. Reads: staged_apps (its `id` is the app).
merge into apps as t
using (
    select
        id as app_id, name, created_at, fetched_at, poll_id,
        min(fetched_at) over (partition by id) as first_fetched_at
    from staged_apps
    where id is not null
    qualify row_number() over (partition by id order by fetched_at desc, seq desc) = 1
) as s
on t.app_id = s.app_id
when matched and s.fetched_at >= t.last_seen_at then update set
    name = s.name,
    created_at = coalesce(s.created_at, t.created_at),
    first_seen_at = least(t.first_seen_at, s.first_fetched_at),
    last_seen_at = s.fetched_at,
    last_poll_id = s.poll_id
when matched then update set
    first_seen_at = least(t.first_seen_at, s.first_fetched_at)
when not matched then insert (app_id, name, created_at, first_seen_at, last_seen_at, last_poll_id)
values (s.app_id, s.name, s.created_at, s.first_fetched_at, s.fetched_at, s.poll_id);
