-- Remove what an earlier load of this poll wrote, so that loading a poll twice equals loading it once.
-- Parameters: poll_id.
delete from raw_responses where poll_id = getvariable('poll_id');
delete from parse_issues where poll_id = getvariable('poll_id');
-- Sessions this poll observed before must have their whole usage computed again (their curve holds the
-- readings removed here), even if the reload lacks them.
insert into usage_stale (session_id, path)
select distinct session_id, 'full' from session_snapshots where poll_id = getvariable('poll_id')
on conflict do update set path = 'full';
delete from session_snapshots where poll_id = getvariable('poll_id');
delete from poll_runs where poll_id = getvariable('poll_id');
delete from listing_rounds where poll_id = getvariable('poll_id');
