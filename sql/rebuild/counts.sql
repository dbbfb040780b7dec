-- Rebuild only: one row with the row count of every table the rebuild re-derives, in the order the
-- command reports them. No parameters.
select
    (select count(*) from livestreams) as livestreams,
    (select count(*) from sessions) as sessions,
    (select count(*) from session_snapshots) as session_snapshots,
    (select count(*) from parse_issues) as parse_issues,
    (select count(*) from apps) as apps,
    (select count(*) from analytics_daily) as analytics_daily,
    (select count(*) from analytics_overall) as analytics_overall;
