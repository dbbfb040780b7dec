-- Rebuild only: empty every table that is derived from raw responses (poll_runs and raw_responses stay).
delete from parse_issues;
delete from session_snapshots;
delete from sessions;
delete from livestreams;
delete from apps;
delete from analytics_daily;
delete from analytics_overall;
delete from session_usage;
delete from session_usage_state;
