-- Remove what an earlier load of this poll wrote, so that loading a poll twice equals loading it once.
-- Parameters: $poll_id.
delete from raw_responses where poll_id = $poll_id;
delete from parse_issues where poll_id = $poll_id;
delete from session_snapshots where poll_id = $poll_id;
delete from poll_runs where poll_id = $poll_id;
